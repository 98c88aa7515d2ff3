package agent

import (
	"crypto/sha256"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/store"
)

// desired is the data plane one zone should have.
type desired struct {
	vpcs      map[string]string // vpcID -> adopted netns path ("" = own namespace)
	vswitches map[string]vswitch
	hosts     map[string]netdrv.Host
	enis      map[eniKey]bool
	listeners map[listenerKey]listenerSpec
	udp       map[listenerKey]listenerSpec // UDP ports (udp.go)
	// ports lists each endpoint's listener ports (its keys in listeners).
	ports map[string][]uint16
	// zones lists the endpoint zones served here (for reports).
	zones map[string]eniKey // endpointID -> eni
	// zones6 lists the IPv6 ENIs of those zones that serve IPv6 (dualstack.go).
	zones6 map[string]eniKey
	// changed names the endpoints whose part the incremental compute
	// redid this round (incremental.go): the rest is as last round. nil:
	// everything may have changed (computeScope, a rebuild).
	changed map[string]bool
}

// vswitch is what the driver needs of a vSwitch.
type vswitch struct {
	VpcID   string
	CIDR    netip.Prefix
	Gateway netip.Addr
}

type eniKey struct {
	VpcID, VSwitchID string
	IP               netip.Addr
}

type listenerKey struct {
	EndpointID string
	Port       uint16
	V6         bool // on the zone's IPv6 ENI (dualstack.go)
}

type listenerSpec struct {
	eni     eniKey
	addr    netip.AddrPort
	svcVPC  string // where backends are dialed ("" = host network)
	cfg     proxy.Config
	rules   model.RuleSet
	version string // changes when cfg changes
}

// scope says what of the region is this agent's: a zone (zone mode), or
// what the store places on a node (node mode, node.go).
type scope struct {
	zone string
	// vswitches: every vSwitch of the zone is made (zone mode); in node
	// mode only those of the node's hosts and ENIs.
	vswitches bool
	host      func(*model.Host) bool
	eni       func(*model.Endpoint, model.EndpointZone) bool
}

// zoneScope is a zone agent's: everything of the zone.
func zoneScope(zone string) scope {
	return scope{zone: zone, vswitches: true,
		host: func(h *model.Host) bool { return h.ZoneID == zone },
		eni:  func(_ *model.Endpoint, z model.EndpointZone) bool { return z.ZoneID == zone }}
}

// spec is the listener of e's endpoint's zone z on port (ENI k); a zone
// pinned to one of the service's resources dials only that resource's
// backends. The result is memoized in e.
func (e *epMemo) spec(m *specMemo, zone string, z model.EndpointZone, k eniKey, port int) listenerSpec {
	sk := specKey{eni: k, port: port}
	if sp, ok := e.specs[sk]; ok {
		return sp
	}
	ep, svc := e.ep, e.svc
	var backends []proxy.Backend
	pinned := z.Pinned(svc.Resources)
	for _, b := range pinned {
		bp := b.Port
		if bp == 0 {
			bp = port
		}
		backends = append(backends, proxy.Backend{ZoneID: b.ZoneID, Addr: netip.AddrPortFrom(b.IP, uint16(bp))})
	}
	cfg := proxy.Config{
		EndpointID: ep.EndpointID, ServiceID: svc.ServiceID, VpcID: ep.VpcID, ZoneID: zone,
		Backends: backends, ZoneAffinity: svc.ZoneAffinityEnabled, ProxyProtocol: svc.ProxyProtocol, ProxyTLVs: tlvSet(svc.ProxyTLVs()),
		BandwidthMbps: ep.Bandwidth(svc), IdleTimeout: time.Duration(svc.IdleTimeout) * time.Second,
		MaxConns: svc.MaxConnsPerEndpoint, NewConnsPerSec: svc.NewConnsPerSecond,
	}
	// version identifies everything that shapes cfg, so unchanged listeners are left alone.
	version := m.version(ep, svc, e.groups, pinned, port)
	sp := listenerSpec{eni: k, addr: netip.AddrPortFrom(k.IP, uint16(port)), svcVPC: svc.VpcID, cfg: cfg, rules: e.rules, version: version}
	e.specs[sk] = sp
	return sp
}

// tlvSet maps a service's TLV names to the proxy's set.
func tlvSet(names []string) proxy.TLVSet {
	return proxy.TLVSet{VpcID: slices.Contains(names, model.TLVVpcID), EndpointID: slices.Contains(names, model.TLVEndpointID),
		ServiceID: slices.Contains(names, model.TLVServiceID)}
}

// specMemo makes listener specs and carries them from one round to the
// next. Across rounds, an endpoint's specs are reused as long as the
// records they derive from are the same: store records are immutable
// values, so the same pointers (the endpoint, its service, each of its
// security groups) mean the same specs, and a round after one endpoint
// changed computes that endpoint's specs only (with 5,000 endpoints the
// whole recompute per change was 9% of the server's CPU while endpoints
// were being created; docs/benchmarks.md, scale). Within a round, the JSON
// of a service and of a list of security groups is made once, not once
// per listener, and a version is a 32-byte hash of it all rather than the
// JSON itself (kilobytes per listener).
type specMemo struct {
	svcs      map[*model.EndpointService][]byte
	groups    map[string][]byte  // by the endpoint's group IDs, joined
	prev, cur map[string]*epMemo // by endpoint ID: the last round's, this round's
	// sgs is each security group's record as the specs know it: a record
	// rewritten unchanged (creating an endpoint rewrites its groups to
	// serialize with them) keeps the pointer it replaces, so the specs of
	// every endpoint of the group stay valid. Checked once per group and
	// round (sgSeen).
	sgs    map[string]*model.SecurityGroup
	sgSeen map[string]bool
}

// epMemo is what an endpoint's specs derive from, and the specs made.
type epMemo struct {
	ep     *model.Endpoint
	svc    *model.EndpointService
	sgs    []*model.SecurityGroup // by ep.SecurityGroupIDs (nil: missing)
	groups []model.SecurityGroup  // the groups found
	rules  model.RuleSet
	specs  map[specKey]listenerSpec
}

type specKey struct {
	eni  eniKey
	port int
}

func newSpecMemo() *specMemo {
	m := &specMemo{cur: map[string]*epMemo{}}
	m.begin()
	return m
}

// begin starts a round: what the last round used may be reused.
func (m *specMemo) begin() {
	m.prev, m.cur = m.cur, make(map[string]*epMemo, len(m.cur))
	m.svcs, m.groups = map[*model.EndpointService][]byte{}, map[string][]byte{}
	if m.sgs == nil {
		m.sgs = map[string]*model.SecurityGroup{}
	}
	m.sgSeen = map[string]bool{}
}

// group is the security group id of snapshot s as the specs know it: the
// record the memo holds when s has the same content under another pointer.
func (m *specMemo) group(s *store.State, id string) *model.SecurityGroup {
	g := s.SGs[id]
	if m.sgSeen[id] {
		return m.sgs[id]
	}
	m.sgSeen[id] = true
	if old := m.sgs[id]; old != nil && g != nil && old != g && reflect.DeepEqual(old, g) {
		return old
	}
	if g == nil {
		delete(m.sgs, id)
	} else {
		m.sgs[id] = g
	}
	return g
}

// endpoint returns ep's memo in snapshot s: the last round's when ep, svc
// and its security groups are the records it was made from.
func (m *specMemo) endpoint(s *store.State, ep *model.Endpoint, svc *model.EndpointService) *epMemo {
	if e := m.cur[ep.EndpointID]; e != nil && e.ep == ep && e.svc == svc {
		return e
	}
	if e := m.prev[ep.EndpointID]; e != nil && e.ep == ep && e.svc == svc && e.sameGroups(m, s) {
		m.cur[ep.EndpointID] = e
		return e
	}
	e := &epMemo{ep: ep, svc: svc, specs: map[specKey]listenerSpec{}}
	for _, id := range ep.SecurityGroupIDs {
		g := m.group(s, id)
		e.sgs = append(e.sgs, g)
		if g != nil {
			e.groups = append(e.groups, *g)
		}
	}
	e.rules = model.CompileRules(e.groups...)
	m.cur[ep.EndpointID] = e
	return e
}

func (e *epMemo) sameGroups(m *specMemo, s *store.State) bool {
	for i, id := range e.ep.SecurityGroupIDs {
		if m.group(s, id) != e.sgs[i] {
			return false
		}
	}
	return true
}

func (m *specMemo) version(ep *model.Endpoint, svc *model.EndpointService, groups []model.SecurityGroup, pinned []model.Backend, port int) string {
	sj, ok := m.svcs[svc]
	if !ok {
		sj = []byte(store.MustJSON(svc))
		m.svcs[svc] = sj
	}
	gk := strings.Join(ep.SecurityGroupIDs, ",")
	gj, ok := m.groups[gk]
	if !ok {
		gj = []byte(store.MustJSON(groups))
		m.groups[gk] = gj
	}
	h := sha256.New()
	for _, b := range [][]byte{sj, gj, []byte(store.MustJSON(struct {
		Ep []string
		B  int
		P  []model.Backend
	}{ep.SecurityGroupIDs, ep.ConnectionBandwidth, pinned})), []byte(strconv.Itoa(port))} {
		h.Write(b)
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}
