package agent

import (
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
)

// incremental computes a scope's desired state round after round in
// proportion to what changed, instead of a pass over every endpoint
// (computeScope, kept as the reference: TestIncrementalMatchesFull). It
// keeps one desired state and, per endpoint, what the endpoint put in it;
// a round asks the store what changed since the last round's State (by
// identity: store.Changes, or Cache.ChangesSince from the cache's log) and
// redoes only the endpoints whose record or ENI placement changed. The
// desired state is rebuilt whole (every endpoint, from its memoized
// specs) at the first round, when the scope changes (a node's lease), and
// when a record that many endpoints read changed in what compute reads
// of it: a VPC's namespace, a vSwitch, a host, a service, a security
// group's content. Records written again unchanged (a create rewrites its
// VPC, its security groups and, on accept, its service) cost nothing.
//
// ENI keys are unique in the store (the IPAM hands out each address once),
// as computeUDP and this type both assume; VPCs, vSwitches and ENIs that
// several contributors add are counted, the rest belongs to one endpoint.
//
// The desired state returned is the incremental's own and is changed by
// the next round: a caller keeps none of its maps across rounds.
type incremental struct {
	changes func(from, to *store.State, only ...string) []string
	memo    *specMemo

	prev *store.State
	key  string // scope key of prev
	d    *desired
	vpcs map[string]int // contributors per VPC, vSwitch and ENI
	vsws map[string]int
	enis map[eniKey]int
	eps  map[string]*epPart

	// fulls and patches count the rounds of each kind (tests).
	fulls, patches int
}

// epPart is what one endpoint put in the desired state.
type epPart struct {
	vpcs      []string
	vsws      []string // node mode: the vSwitches of its ENIs
	enis      []eniKey
	listeners []listenerKey // TCP and UDP (udp: in d.udp)
	udp       []listenerKey
}

// changedKinds are the records compute reads; other kinds are ignored.
var changedKinds = []string{store.KindVPC, store.KindVSwitch, store.KindHost, store.KindService, store.KindSG,
	store.KindEndpoint, store.KindENIPlace}

func newIncremental(changes func(from, to *store.State, only ...string) []string) *incremental {
	if changes == nil {
		changes = store.Changes
	}
	return &incremental{changes: changes, memo: newSpecMemo()}
}

// compute returns the desired state of sc in s; key identifies sc (the
// same key means the same scope functions for the same State).
func (c *incremental) compute(sc scope, key string, s *store.State) *desired {
	eps, full := c.changed(key, s)
	if full {
		c.rebuild(sc, s)
		c.fulls++
		c.d.changed = nil
	} else {
		c.patch(sc, s, eps)
		c.patches++
		c.d.changed = eps
	}
	c.prev, c.key = s, key
	return c.d
}

// changed lists the endpoints to redo since the last round, or full when
// the whole state must be rebuilt.
func (c *incremental) changed(key string, s *store.State) (map[string]bool, bool) {
	if c.prev == nil || c.d == nil || key != c.key {
		return nil, true
	}
	if c.prev == s {
		return map[string]bool{}, false
	}
	eps := map[string]bool{}
	for _, rec := range c.changes(c.prev, s, changedKinds...) {
		if ep := store.EndpointOf(rec); ep != "" {
			eps[ep] = true
			continue
		}
		if !sameShared(c.prev, s, rec) {
			return nil, true
		}
	}
	return eps, false
}

// sameShared reports whether a record many endpoints read (rec, as
// store.Changes names it) is the same in from and to for compute: its
// pointer changed, but not what compute reads of it.
func sameShared(from, to *store.State, rec string) bool {
	kind, id, _ := strings.Cut(rec, "/")
	switch kind {
	case store.KindVPC:
		a, b := from.VPCs[id], to.VPCs[id]
		return (a == nil) == (b == nil) && (a == nil || a.NetnsPath == b.NetnsPath)
	case store.KindVSwitch:
		a, b := from.VSwitches[id], to.VSwitches[id]
		return (a == nil) == (b == nil) && (a == nil || a.VpcID == b.VpcID && a.ZoneID == b.ZoneID && a.CidrBlock == b.CidrBlock &&
			a.Gateway == b.Gateway && a.Ipv6CidrBlock == b.Ipv6CidrBlock)
	case store.KindHost:
		return reflect.DeepEqual(from.Hosts[id], to.Hosts[id])
	case store.KindService:
		return reflect.DeepEqual(from.Services[id], to.Services[id])
	case store.KindSG:
		return reflect.DeepEqual(from.SGs[id], to.SGs[id])
	}
	return false
}

// rebuild makes the desired state anew: the scope's vSwitches and hosts,
// then every endpoint (specs memoized across rounds as computeScope does).
func (c *incremental) rebuild(sc scope, s *store.State) {
	c.memo.begin()
	c.d = &desired{vpcs: map[string]string{}, vswitches: map[string]vswitch{}, hosts: map[string]netdrv.Host{},
		enis: map[eniKey]bool{}, listeners: map[listenerKey]listenerSpec{}, udp: map[listenerKey]listenerSpec{},
		ports: map[string][]uint16{}, zones: map[string]eniKey{}, zones6: map[string]eniKey{}}
	c.vpcs, c.vsws, c.enis = map[string]int{}, map[string]int{}, map[eniKey]int{}
	c.eps = make(map[string]*epPart, len(s.Endpoints))
	base := &epPart{} // the scope's own: never removed until the next rebuild
	for id, vsw := range s.VSwitches {
		if sc.vswitches && vsw.ZoneID == sc.zone {
			c.addVSwitch(base, s, id)
		}
	}
	d := c.d
	for id, h := range s.Hosts {
		if !sc.host(h) || !sc.vswitches && !c.addVSwitch(base, s, h.VSwitchID) {
			continue
		}
		vsw, ok := d.vswitches[h.VSwitchID]
		if !ok {
			continue
		}
		hd := netdrv.Host{ID: id, VpcID: h.VpcID, VSwitchID: h.VSwitchID, IP: h.IP, Prefix: vsw.CIDR, Gateway: vsw.Gateway}
		if sw := s.VSwitches[h.VSwitchID]; h.Ipv6Address.IsValid() && sw != nil && sw.Ipv6CidrBlock.Contains(h.Ipv6Address) {
			hd.IP6, hd.Prefix6 = h.Ipv6Address, sw.Ipv6CidrBlock
		}
		d.hosts[id] = hd
	}
	for _, ep := range s.Endpoints {
		c.addEndpoint(sc, s, ep)
	}
}

// patch redoes the endpoints of eps: each one's part is taken out and,
// when it still exists, made again.
func (c *incremental) patch(sc scope, s *store.State, eps map[string]bool) {
	c.memo.beginPatch(eps)
	for id := range eps {
		c.removeEndpoint(id)
		if ep := s.Endpoints[id]; ep != nil {
			c.addEndpoint(sc, s, ep)
		}
	}
}

func (c *incremental) addVPC(p *epPart, s *store.State, id string) bool {
	v, ok := s.VPCs[id]
	if !ok {
		return false
	}
	c.d.vpcs[id] = v.NetnsPath
	c.vpcs[id]++
	p.vpcs = append(p.vpcs, id)
	return true
}

func (c *incremental) addVSwitch(p *epPart, s *store.State, id string) bool {
	vsw := s.VSwitches[id]
	if vsw == nil || !c.addVPC(p, s, vsw.VpcID) {
		return false
	}
	c.d.vswitches[id] = vswitch{VpcID: vsw.VpcID, CIDR: vsw.CidrBlock, Gateway: vsw.Gateway}
	c.vsws[id]++
	p.vsws = append(p.vsws, id)
	return true
}

func (c *incremental) addENI(p *epPart, k eniKey) {
	c.d.enis[k] = true
	c.enis[k]++
	p.enis = append(p.enis, k)
}

// addEndpoint puts ep's ENIs, listeners and UDP listeners in the desired
// state: computeScope's endpoint loop and computeUDP for one endpoint.
func (c *incremental) addEndpoint(sc scope, s *store.State, ep *model.Endpoint) {
	d, m, zone, id := c.d, c.memo, sc.zone, ep.EndpointID
	p := &epPart{}
	c.eps[id] = p
	svc := s.Services[ep.ServiceID]
	placed := map[eniKey]bool{}
	for _, z := range ep.Zones {
		if !sc.eni(ep, z) || !sc.vswitches && !c.addVSwitch(p, s, z.VSwitchID) {
			continue
		}
		if _, ok := d.vswitches[z.VSwitchID]; !ok {
			continue
		}
		k := eniKey{VpcID: ep.VpcID, VSwitchID: z.VSwitchID, IP: z.IP}
		c.addENI(p, k)
		placed[k] = true
		d.zones[id] = k
		if z.ServesIPv6(svc) {
			k6 := eniKey{VpcID: ep.VpcID, VSwitchID: z.VSwitchID, IP: z.Ipv6Address}
			c.addENI(p, k6)
			d.zones6[id] = k6
		}
		if !model.Carries(ep, svc) || z.ConnectionDisabled {
			continue
		}
		if svc.VpcID != "" && !c.addVPC(p, s, svc.VpcID) {
			continue
		}
		e := m.endpoint(s, ep, svc)
		for _, port := range svc.Ports {
			lk := listenerKey{EndpointID: id, Port: uint16(port)}
			d.listeners[lk] = e.spec(m, zone, z, k, port)
			p.listeners = append(p.listeners, lk)
			d.ports[id] = append(d.ports[id], uint16(port))
		}
		if k6, ok := d.zones6[id]; ok {
			for _, port := range svc.Ports {
				lk := listenerKey{EndpointID: id, Port: uint16(port), V6: true}
				d.listeners[lk] = e.spec(m, zone, z, k6, port)
				p.listeners = append(p.listeners, lk)
			}
		}
	}
	// UDP (computeUDP): the zones of this zone whose ENI is placed, once
	// the endpoint's IPv6 ENI is known.
	if svc == nil || len(svc.UDPPorts) == 0 || !model.Carries(ep, svc) {
		return
	}
	if _, ok := s.VPCs[svc.VpcID]; svc.VpcID != "" && !ok {
		return
	}
	for _, z := range ep.Zones {
		k := eniKey{VpcID: ep.VpcID, VSwitchID: z.VSwitchID, IP: z.IP}
		if z.ZoneID != zone || z.ConnectionDisabled || !placed[k] {
			continue
		}
		e := m.endpoint(s, ep, svc)
		k6, v6 := d.zones6[id]
		for _, port := range svc.UDPPorts {
			sp := e.spec(m, zone, z, k, port)
			sp.cfg.IdleTimeout = time.Duration(svc.UDPIdleTimeout) * time.Second
			sp.version += "/udp"
			lk := listenerKey{EndpointID: id, Port: uint16(port)}
			d.udp[lk] = sp
			p.udp = append(p.udp, lk)
			if v6 {
				sp6 := sp
				sp6.eni, sp6.addr = k6, netip.AddrPortFrom(k6.IP, uint16(port))
				lk6 := listenerKey{EndpointID: id, Port: uint16(port), V6: true}
				d.udp[lk6] = sp6
				p.udp = append(p.udp, lk6)
			}
		}
	}
}

// removeEndpoint takes out what endpoint id put in the desired state.
func (c *incremental) removeEndpoint(id string) {
	p := c.eps[id]
	if p == nil {
		return
	}
	d := c.d
	delete(c.eps, id)
	delete(d.zones, id)
	delete(d.zones6, id)
	delete(d.ports, id)
	for _, k := range p.listeners {
		delete(d.listeners, k)
	}
	for _, k := range p.udp {
		delete(d.udp, k)
	}
	for _, k := range p.enis {
		if c.enis[k]--; c.enis[k] <= 0 {
			delete(c.enis, k)
			delete(d.enis, k)
		}
	}
	for _, v := range p.vsws {
		if c.vsws[v]--; c.vsws[v] <= 0 {
			delete(c.vsws, v)
			delete(d.vswitches, v)
		}
	}
	for _, v := range p.vpcs {
		if c.vpcs[v]--; c.vpcs[v] <= 0 {
			delete(c.vpcs, v)
			delete(d.vpcs, v)
		}
	}
}

// beginPatch starts a round that redoes the endpoints of eps only (the
// incremental's patch): the other endpoints' memos stay current, those of
// eps may be reused when their records are the same.
func (m *specMemo) beginPatch(eps map[string]bool) {
	m.prev = make(map[string]*epMemo, len(eps))
	for id := range eps {
		if e := m.cur[id]; e != nil {
			m.prev[id] = e
			delete(m.cur, id)
		}
	}
	m.svcs, m.groups = map[*model.EndpointService][]byte{}, map[string][]byte{}
	if m.sgs == nil {
		m.sgs = map[string]*model.SecurityGroup{}
	}
	m.sgSeen = map[string]bool{}
}

// changesOf is how the agent learns what changed between two States of
// its cache: from the cache's log (Cache.ChangesSince), else by comparing
// them (store.Changes).
func changesOf(c *store.Cache) func(from, to *store.State, only ...string) []string {
	if c == nil {
		return store.Changes
	}
	return c.ChangesSince
}
