package store

import (
	"maps"

	"github.com/privlink/privlink/internal/model"
)

// State is an immutable decoded snapshot of the resources that the data
// plane needs, as of Rev. Consumers must not modify it. Every value in it
// decoded and validated (see records.go); a key whose current value is bad
// keeps its last good value.
type State struct {
	Rev       int64
	VPCs      map[string]*model.VPC
	VSwitches map[string]*model.VSwitch
	SGs       map[string]*model.SecurityGroup
	Hosts     map[string]*model.Host
	Services  map[string]*model.EndpointService
	Endpoints map[string]*model.Endpoint
	// Reports is keyed by reportID(zoneID, endpointID); use Report.
	Reports map[string]*model.ZoneReport
	// Agents is keyed by zoneID.
	Agents map[string]*model.AgentInfo
	// Notifications are the webhook subscriptions (for the events they cause).
	Notifications map[string]*model.Notification
	// Nodes are the ready nodes' liveness records, by node name.
	Nodes map[string]*model.NodeStatus
	// NodeRegs are the registered nodes, by node name.
	NodeRegs map[string]*model.NodeReg
	// Placements are the ENI placements, keyed by "<endpointId>/<zoneId>";
	// use Placement.
	Placements map[string]*model.ENIPlacement
	// QuotaHits are recent quota refusals, keyed "<accountId>/<code>".
	QuotaHits map[string]*model.QuotaHit
	// bad holds the keys (relative to the prefix, "vpc/<id>") whose current
	// value is bad; the maps hold their last good value, if any.
	bad map[string]bool
	// list and seq place the State in its Cache's change log (or the one
	// FollowStates keeps): the list it descends from (nil otherwise) and
	// how many watch responses after that list it is (see
	// Cache.ChangesSince).
	list *changeLog
	seq  uint64
}

// setter applies one key of a kind to next, with prev holding the last
// good values (prev may be next itself); a nil value deletes the key.
type setter func(next, prev *State, id string, value *[]byte) error

// kinds are the key kinds a State holds, and how each is applied.
var kinds = map[string]setter{
	KindVPC:      func(n, p *State, id string, v *[]byte) error { return set(n.VPCs, p.VPCs, id, v) },
	KindVSwitch:  func(n, p *State, id string, v *[]byte) error { return set(n.VSwitches, p.VSwitches, id, v) },
	KindSG:       func(n, p *State, id string, v *[]byte) error { return set(n.SGs, p.SGs, id, v) },
	KindHost:     func(n, p *State, id string, v *[]byte) error { return set(n.Hosts, p.Hosts, id, v) },
	KindService:  func(n, p *State, id string, v *[]byte) error { return set(n.Services, p.Services, id, v) },
	KindEndpoint: func(n, p *State, id string, v *[]byte) error { return set(n.Endpoints, p.Endpoints, id, v) },
	KindReport:   func(n, p *State, id string, v *[]byte) error { return set(n.Reports, p.Reports, id, v) },
	KindAgent:    func(n, p *State, id string, v *[]byte) error { return set(n.Agents, p.Agents, id, v) },
	KindNotif:    func(n, p *State, id string, v *[]byte) error { return set(n.Notifications, p.Notifications, id, v) },
	KindNode:     func(n, p *State, id string, v *[]byte) error { return set(n.Nodes, p.Nodes, id, v) },
	KindNodeReg:  func(n, p *State, id string, v *[]byte) error { return set(n.NodeRegs, p.NodeRegs, id, v) },
	KindENIPlace: func(n, p *State, id string, v *[]byte) error { return set(n.Placements, p.Placements, id, v) },
	KindQuotaHit: func(n, p *State, id string, v *[]byte) error { return set(n.QuotaHits, p.QuotaHits, id, v) },
}

func newState() *State {
	return &State{
		VPCs: map[string]*model.VPC{}, VSwitches: map[string]*model.VSwitch{},
		SGs: map[string]*model.SecurityGroup{}, Hosts: map[string]*model.Host{},
		Services: map[string]*model.EndpointService{}, Endpoints: map[string]*model.Endpoint{},
		Reports: map[string]*model.ZoneReport{}, Agents: map[string]*model.AgentInfo{},
		Notifications: map[string]*model.Notification{},
		Nodes:         map[string]*model.NodeStatus{}, NodeRegs: map[string]*model.NodeReg{},
		Placements: map[string]*model.ENIPlacement{}, QuotaHits: map[string]*model.QuotaHit{},
		bad: map[string]bool{},
	}
}

// clone copies the maps (not the values, which are immutable).
func (s *State) clone() *State {
	n := *s
	n.bad = maps.Clone(s.bad)
	for kind := range kinds {
		n.own(kind)
	}
	return &n
}

// cloneKinds is a copy of s to apply changes of the given kinds to: the
// maps of those kinds (and the bad-record set) are copied, every other
// map is shared with s, which stays as it was (a State is immutable once
// published, so sharing a map that no change touches is safe). A watch
// response usually touches one or two kinds, so this copies a fraction
// of what clone does (at 10,000 endpoints clone copied ~30,000 entries
// per response).
func (s *State) cloneKinds(touched map[string]bool) *State {
	n := *s
	n.bad = maps.Clone(s.bad)
	for kind := range touched {
		n.own(kind)
	}
	return &n
}

// own replaces the map of kind with a copy, so that it may be modified.
func (s *State) own(kind string) {
	switch kind {
	case KindVPC:
		s.VPCs = maps.Clone(s.VPCs)
	case KindVSwitch:
		s.VSwitches = maps.Clone(s.VSwitches)
	case KindSG:
		s.SGs = maps.Clone(s.SGs)
	case KindHost:
		s.Hosts = maps.Clone(s.Hosts)
	case KindService:
		s.Services = maps.Clone(s.Services)
	case KindEndpoint:
		s.Endpoints = maps.Clone(s.Endpoints)
	case KindReport:
		s.Reports = maps.Clone(s.Reports)
	case KindAgent:
		s.Agents = maps.Clone(s.Agents)
	case KindNotif:
		s.Notifications = maps.Clone(s.Notifications)
	case KindNode:
		s.Nodes = maps.Clone(s.Nodes)
	case KindNodeReg:
		s.NodeRegs = maps.Clone(s.NodeRegs)
	case KindENIPlace:
		s.Placements = maps.Clone(s.Placements)
	case KindQuotaHit:
		s.QuotaHits = maps.Clone(s.QuotaHits)
	}
}

// apply sets (value != nil) or deletes a key relative to the prefix, e.g.
// "ep/ep-xxx"; value nil deletes. A bad value leaves the last good one (from prev) in place
// and returns the reason. Keys of other kinds are ignored.
func (s *State) apply(prev *State, rel string, value *[]byte) error {
	kind, id, ok := relKind(rel)
	f := kinds[kind]
	if !ok || f == nil {
		return nil
	}
	err := f(s, prev, id, value)
	if err != nil {
		s.bad[rel] = true
	} else {
		delete(s.bad, rel)
	}
	return err
}

// Bad reports whether the record of kind id is currently bad (then the
// State holds its last good value, if it ever had one). Whoever removes
// things that are not in the State must leave these alone.
func (s *State) Bad(kind, id string) bool { return s.bad[kind+"/"+id] }

// BadKind reports whether any record of kind is currently bad.
func (s *State) BadKind(kind string) bool {
	for rel := range s.bad {
		if k, _, _ := relKind(rel); k == kind {
			return true
		}
	}
	return false
}

func set[V any](m, prev map[string]*V, id string, value *[]byte) error {
	if value == nil {
		delete(m, id)
		return nil
	}
	v, err := decode[V](*value)
	if err != nil {
		if old, ok := prev[id]; ok {
			m[id] = old
		}
		return err
	}
	m[id] = v
	return nil
}

// Placement returns the ENI placement of an endpoint zone, or nil.
func (s *State) Placement(endpointID, zoneID string) *model.ENIPlacement {
	return s.Placements[endpointID+"/"+zoneID]
}

// HostNode is the node a host lives on: its nodeName, or for a record
// from before nodes, defaultNode (the value of meta/defaultnode).
func HostNode(h *model.Host, defaultNode string) string {
	if h.NodeName != "" {
		return h.NodeName
	}
	return defaultNode
}

func reportID(zoneID, endpointID string) string { return zoneID + "/" + endpointID }

// Report returns the zone report of an endpoint zone, or nil.
func (s *State) Report(zoneID, endpointID string) *model.ZoneReport {
	return s.Reports[reportID(zoneID, endpointID)]
}

// ZoneStatus is an endpoint zone's status as the live reports say (see
// model.ZoneStatus): the one decision the API, the status controller and
// the resolver share.
//
// A zone with an ENI placement (a region of nodes, see placement.go) is
// alive while its placement's node is, under the placement's lease, and
// only that node's report for the placement's epoch counts
// (model.PlacedZone); a zone without one is alive while its zone agent is.
func (s *State) ZoneStatus(ep *model.Endpoint, zoneID string) string {
	alive, rep := s.zoneLiveness(zoneID, ep.EndpointID)
	return model.ZoneStatus(ep, zoneID, alive, rep)
}
