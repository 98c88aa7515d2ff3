package resolver

import (
	"net/netip"
	"slices"

	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Views derives the DNS views incrementally: it remembers, per endpoint,
// the names and addresses it contributed and the records of the State
// it read to derive them (its endpoint, its service, per zone the zone's
// report, placement, and the zone agent or the placement's node). On a
// new State it re-derives only the endpoints one of whose records
// changed (store.Changes, by identity) and patches the names whose
// address set changed. A name several endpoints publish (the service
// name, the service domain) holds the union of their addresses, kept as
// a count per address. The result always equals Build of the same State
// (TestViewsMatchBuild).
type Views struct {
	mapAddr func(vpcID string, ip netip.Addr) netip.Addr
	changes func(from, to *store.State, only ...string) []string
	last    *store.State
	eps     map[string]*contribution
	// byRecord lists, per shared record (store.RecordKey: a service, a
	// zone agent, a node), the endpoints whose contribution read it.
	byRecord map[string]map[string]struct{}
	// names is, per VPC and name, the union of the contributions.
	names map[string]map[string]*union
}

// union is a name's addresses: how many contributions hold each, and the
// same addresses sorted (kept in order as addresses come and go, so that
// a name with 10,000 addresses is not sorted again on every change).
type union struct {
	count  map[netip.Addr]int
	sorted []netip.Addr
}

func (u *union) add(a netip.Addr) {
	i, _ := slices.BinarySearchFunc(u.sorted, a, netip.Addr.Compare)
	u.sorted = slices.Insert(u.sorted, i, a)
}

func (u *union) remove(a netip.Addr) {
	if i, ok := slices.BinarySearchFunc(u.sorted, a, netip.Addr.Compare); ok {
		u.sorted = slices.Delete(u.sorted, i, i+1)
	}
}

// contribution is what one endpoint publishes and what it was derived from.
type contribution struct {
	vpc     string
	names   []named
	records []string
}

type named struct {
	name  string
	addrs []netip.Addr
}

// depKinds are the kinds of records a contribution is derived from.
var depKinds = []string{store.KindEndpoint, store.KindService, store.KindReport, store.KindAgent, store.KindNode, store.KindENIPlace}

// NewViews returns empty views; mapAddr is as for Build.
func NewViews(mapAddr func(vpcID string, ip netip.Addr) netip.Addr) *Views {
	return &Views{mapAddr: mapAddr, changes: store.Changes, eps: map[string]*contribution{}, byRecord: map[string]map[string]struct{}{},
		names: map[string]map[string]*union{}}
}

// WithChanges makes v learn what changed between two States with f
// (Cache.ChangesSince: from the cache's log, in proportion to the
// changes) instead of store.Changes (a pass over the maps that changed).
func (v *Views) WithChanges(f func(from, to *store.State, only ...string) []string) *Views {
	v.changes = f
	return v
}

// Update brings the views to st and returns what changed: per VPC, the
// new addresses of every name whose address set changed (none: the name
// is gone), as dns.Server.PatchView takes them. The first call derives
// every endpoint.
func (v *Views) Update(st *store.State) map[string]map[string][]netip.Addr {
	affected := map[string]struct{}{}
	if v.last == nil {
		for id := range st.Endpoints {
			affected[id] = struct{}{}
		}
	} else {
		for _, rec := range v.changes(v.last, st, depKinds...) {
			if id := store.EndpointOf(rec); id != "" {
				affected[id] = struct{}{}
				continue
			}
			for id := range v.byRecord[rec] {
				affected[id] = struct{}{}
			}
		}
	}
	dirty := map[string]map[string]struct{}{}
	for id := range affected {
		old := v.eps[id]
		var next *contribution
		if ep := st.Endpoints[id]; ep != nil {
			next = derive(st, ep, v.mapAddr)
		}
		// Add the new addresses before removing the old ones, so that an
		// address held before and after marks nothing dirty.
		if next != nil {
			v.count(next, 1, dirty)
		}
		if old != nil {
			v.count(old, -1, dirty)
			v.index(id, old, false)
		}
		if next != nil {
			v.index(id, next, true)
			v.eps[id] = next
		} else {
			delete(v.eps, id)
		}
	}
	v.last = st
	out := make(map[string]map[string][]netip.Addr, len(dirty))
	for vpc, names := range dirty {
		patch := make(map[string][]netip.Addr, len(names))
		for name := range names {
			patch[name] = addrsOf(v.names[vpc][name])
		}
		out[vpc] = patch
	}
	return out
}

// Snapshot is the full views (every VPC with a name), as Build returns them.
func (v *Views) Snapshot(rev int64) *dns.Snapshot {
	snap := &dns.Snapshot{Revision: rev, Views: make(map[string]map[string][]netip.Addr, len(v.names))}
	for vpc, names := range v.names {
		view := make(map[string][]netip.Addr, len(names))
		for name, u := range names {
			view[name] = addrsOf(u)
		}
		snap.Views[vpc] = view
	}
	return snap
}

// addrsOf is a copy of a name's sorted addresses (nil: no name).
func addrsOf(u *union) []netip.Addr {
	if u == nil || len(u.sorted) == 0 {
		return nil
	}
	return slices.Clone(u.sorted)
}

// count adds (delta 1) or removes (-1) a contribution's addresses and
// marks dirty the names whose address set changes.
func (v *Views) count(c *contribution, delta int, dirty map[string]map[string]struct{}) {
	if len(c.names) == 0 {
		return
	}
	view := v.names[c.vpc]
	if view == nil {
		view = map[string]*union{}
		v.names[c.vpc] = view
	}
	mark := func(name string) {
		d := dirty[c.vpc]
		if d == nil {
			d = map[string]struct{}{}
			dirty[c.vpc] = d
		}
		d[name] = struct{}{}
	}
	for _, n := range c.names {
		u := view[n.name]
		if u == nil {
			u = &union{count: map[netip.Addr]int{}}
			view[n.name] = u
		}
		for _, a := range n.addrs {
			k := u.count[a] + delta
			switch {
			case k > 0:
				u.count[a] = k
				if k == 1 && delta > 0 {
					u.add(a)
					mark(n.name)
				}
			default:
				delete(u.count, a)
				u.remove(a)
				mark(n.name)
			}
		}
		if len(u.count) == 0 {
			delete(view, n.name)
		}
	}
	if len(view) == 0 {
		delete(v.names, c.vpc)
	}
}

// index adds or removes the endpoint under each record it read.
func (v *Views) index(id string, c *contribution, add bool) {
	for _, rec := range c.records {
		ids := v.byRecord[rec]
		if add {
			if ids == nil {
				ids = map[string]struct{}{}
				v.byRecord[rec] = ids
			}
			ids[id] = struct{}{}
			continue
		}
		delete(ids, id)
		if len(ids) == 0 {
			delete(v.byRecord, rec)
		}
	}
}

// derive is one endpoint's part of Build: the names it publishes in its
// VPC and the records it read to decide them.
func derive(st *store.State, ep *model.Endpoint, mapAddr func(string, netip.Addr) netip.Addr) *contribution {
	// Records only this endpoint reads (store.EndpointOf) are not listed.
	c := &contribution{vpc: ep.VpcID, records: make([]string, 0, 1+len(ep.Zones))}
	c.records = append(c.records, store.RecordKey(store.KindService, ep.ServiceID))
	for _, z := range ep.Zones {
		if p := st.Placement(ep.EndpointID, z.ZoneID); p != nil {
			c.records = append(c.records, store.RecordKey(store.KindNode, p.Node))
		} else {
			c.records = append(c.records, store.RecordKey(store.KindAgent, z.ZoneID))
		}
	}
	svc := st.Services[ep.ServiceID]
	if !model.Carries(ep, svc) {
		return c
	}
	// As Build: ready zones are published; among them only healthy ones
	// unless none is healthy.
	var ready, healthy []netip.Addr
	for _, z := range ep.Zones {
		if st.ZoneStatus(ep, z.ZoneID) != model.ZoneConnected {
			continue
		}
		ip := mapAddr(ep.VpcID, z.IP)
		ips := []netip.Addr{ip}
		if z.ServesIPv6(svc) && ip == z.IP {
			ips = append(ips, z.Ipv6Address)
		}
		ready = append(ready, ips...)
		if st.Report(z.ZoneID, ep.EndpointID).Healthy {
			healthy = append(healthy, ips...)
		}
		c.names = append(c.names, named{fqdn(z.ZoneDomain), ips})
	}
	all := healthy
	if len(all) == 0 {
		all = ready
	}
	if len(all) == 0 {
		return c
	}
	c.names = append(c.names, named{fqdn(ep.EndpointDomain), all}, named{fqdn(svc.Name), all}, named{fqdn(svc.ServiceDomain), all})
	return c
}
