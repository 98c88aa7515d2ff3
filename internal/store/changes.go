package store

import (
	"reflect"
	"strings"
)

// Changes lists the records that differ between two States: added,
// removed or replaced, each as "<kind>/<key>" with the key of the State's
// map (Reports: "<zoneId>/<endpointId>", Placements:
// "<endpointId>/<zoneId>", Agents: the zone, Nodes: the node). Values are
// compared by identity: a State shares the value of every record that no
// change touched with the State it was made from, and a record written
// again (even unchanged) is a new value. Only the given kinds are
// compared (none: all). A kind whose map is shared by the two States (no
// change touched it, see cloneKinds) costs nothing; any other costs one
// pass over both maps. Between unrelated States (a relist) every record
// differs.
func Changes(from, to *State, only ...string) []string {
	if len(only) == 0 {
		for kind := range kinds {
			only = append(only, kind)
		}
	}
	var out []string
	for _, kind := range only {
		switch kind {
		case KindVPC:
			out = diffMap(out, kind, from.VPCs, to.VPCs)
		case KindVSwitch:
			out = diffMap(out, kind, from.VSwitches, to.VSwitches)
		case KindSG:
			out = diffMap(out, kind, from.SGs, to.SGs)
		case KindHost:
			out = diffMap(out, kind, from.Hosts, to.Hosts)
		case KindService:
			out = diffMap(out, kind, from.Services, to.Services)
		case KindEndpoint:
			out = diffMap(out, kind, from.Endpoints, to.Endpoints)
		case KindReport:
			out = diffMap(out, kind, from.Reports, to.Reports)
		case KindAgent:
			out = diffMap(out, kind, from.Agents, to.Agents)
		case KindNotif:
			out = diffMap(out, kind, from.Notifications, to.Notifications)
		case KindNode:
			out = diffMap(out, kind, from.Nodes, to.Nodes)
		case KindNodeReg:
			out = diffMap(out, kind, from.NodeRegs, to.NodeRegs)
		case KindENIPlace:
			out = diffMap(out, kind, from.Placements, to.Placements)
		case KindQuotaHit:
			out = diffMap(out, kind, from.QuotaHits, to.QuotaHits)
		}
	}
	return out
}

// TouchedEndpoints names the endpoints whose derived state (status, zone
// statuses, events) can differ between from and to: those whose record,
// zone reports or ENI placements changed. nil means every endpoint: a
// service, zone agent or node changed, which many endpoints read. Without
// it a reconciler makes a pass over every endpoint once per revision (the
// events controller: 22% of the server's CPU while 10,000 endpoints were
// created). What changed is read from the log the cache or FollowStates
// keeps with its States when from and to share one (in proportion to the
// changes), else by comparing the maps (a pass over every report per
// revision: 10,000 reports rewritten after an agent's restart made that
// O(n²)).
func TouchedEndpoints(from, to *State) map[string]bool {
	eps := map[string]bool{}
	for _, rec := range changesSince(from, to, KindEndpoint, KindReport, KindENIPlace, KindService, KindAgent, KindNode) {
		ep := EndpointOf(rec)
		if ep == "" { // a service, zone agent or node
			return nil
		}
		eps[ep] = true
	}
	return eps
}

// RecordKey is the name Changes gives to the record of kind under key.
func RecordKey(kind, key string) string { return kind + "/" + key }

// EndpointOf is the endpoint a record named by RecordKey belongs to: the
// endpoint itself, one of its zone reports or ENI placements; "" for any
// other record (one that several endpoints may read).
func EndpointOf(rec string) string {
	kind, key, _ := strings.Cut(rec, "/")
	switch kind {
	case KindEndpoint:
		return key
	case KindReport: // <zoneId>/<endpointId>
		_, ep, _ := strings.Cut(key, "/")
		return ep
	case KindENIPlace: // <endpointId>/<zoneId>
		ep, _, _ := strings.Cut(key, "/")
		return ep
	}
	return ""
}

func diffMap[V any](out []string, kind string, a, b map[string]*V) []string {
	if sameMap(a, b) {
		return out
	}
	for k, v := range b {
		if a[k] != v {
			out = append(out, RecordKey(kind, k))
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, RecordKey(kind, k))
		}
	}
	return out
}

// sameMap reports whether a and b are the same map (not merely equal).
func sameMap[V any](a, b map[string]*V) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// ReportRecord is the name Changes gives to the zone report of an
// endpoint zone.
func ReportRecord(zoneID, endpointID string) string {
	return RecordKey(KindReport, reportID(zoneID, endpointID))
}

// PlacementRecord is the name Changes gives to the ENI placement of an
// endpoint zone.
func PlacementRecord(endpointID, zoneID string) string {
	return RecordKey(KindENIPlace, endpointID+"/"+zoneID)
}
