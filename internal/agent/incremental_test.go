package agent

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// incWorld is a random region for TestIncrementalMatchesFull: two
// consumer VPCs with vSwitches in two zones, a provider VPC, hosts,
// services (one dual-stack with UDP ports), security groups, endpoints,
// and ENI placements on two nodes. Each step makes a new State the way
// the cache does: the maps a change touches are copied, every record it
// writes is a new value, the rest is shared.
type incWorld struct {
	r    *rand.Rand
	s    *store.State
	next int // endpoint and address counter
}

const incZone, incAcct = "z-h", "2000000000000002"

func newIncWorld(seed uint64) *incWorld {
	w := &incWorld{r: rand.New(rand.NewPCG(seed, 7))}
	s := &store.State{
		VPCs: map[string]*model.VPC{"vpc-c1": {VpcID: "vpc-c1"}, "vpc-c2": {VpcID: "vpc-c2", NetnsPath: "/run/netns/adopted"},
			"vpc-p": {VpcID: "vpc-p"}},
		VSwitches: map[string]*model.VSwitch{}, Hosts: map[string]*model.Host{},
		Services: map[string]*model.EndpointService{}, SGs: map[string]*model.SecurityGroup{},
		Endpoints: map[string]*model.Endpoint{}, Placements: map[string]*model.ENIPlacement{},
	}
	for i, v := range []struct{ id, vpc, zone string }{{"vsw-1", "vpc-c1", incZone}, {"vsw-2", "vpc-c1", "z-i"},
		{"vsw-3", "vpc-c2", incZone}, {"vsw-p", "vpc-p", incZone}} {
		s.VSwitches[v.id] = &model.VSwitch{VSwitchID: v.id, VpcID: v.vpc, ZoneID: v.zone,
			CidrBlock: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16), Gateway: netip.AddrFrom4([4]byte{10, byte(i), 0, 1}),
			Ipv6CidrBlock: netip.MustParsePrefix(fmt.Sprintf("fd00:%d::/64", i))}
	}
	s.Hosts["i-1"] = &model.Host{HostID: "i-1", VpcID: "vpc-c1", VSwitchID: "vsw-1", IP: netip.MustParseAddr("10.0.0.5"), NodeName: "n1"}
	s.Hosts["i-2"] = &model.Host{HostID: "i-2", VpcID: "vpc-p", VSwitchID: "vsw-p", IP: netip.MustParseAddr("10.3.0.5"), NodeName: "n2"}
	s.Services["svc-1"] = &model.EndpointService{ServiceID: "svc-1", AccountID: incAcct, VpcID: "vpc-p", Ports: []int{80, 443},
		Resources: []model.Backend{{ZoneID: incZone, IP: netip.MustParseAddr("10.3.0.5"), Port: 8080}}}
	s.Services["svc-2"] = &model.EndpointService{ServiceID: "svc-2", AccountID: incAcct, VpcID: "vpc-p", Ports: []int{5432},
		UDPPorts: []int{53}, AddressIPVersion: model.AddressDualStack,
		Resources: []model.Backend{{ZoneID: "z-i", IP: netip.MustParseAddr("10.3.0.6"), Port: 0}}}
	for _, id := range []string{"sg-1", "sg-2"} {
		s.SGs[id] = &model.SecurityGroup{SecurityGroupID: id, Rules: []model.SecurityGroupRule{{SourceCidr: "10.0.0.0/8", PortRange: "1/65535", Policy: "accept", Priority: 1}}}
	}
	w.s = s
	for range 12 {
		w.addEndpoint(s)
	}
	return w
}

func (w *incWorld) pick(keys []string) string { return keys[w.r.IntN(len(keys))] }

func keysOf[V any](m map[string]*V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// map order is random, but the test's choices must follow the seed
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// addEndpoint adds an endpoint with one or two zones (unique addresses).
func (w *incWorld) addEndpoint(s *store.State) {
	w.next++
	n := w.next
	vpc, vsws := "vpc-c1", []string{"vsw-1", "vsw-2"}
	if w.r.IntN(3) == 0 {
		vpc, vsws = "vpc-c2", []string{"vsw-3"}
	}
	ep := &model.Endpoint{EndpointID: fmt.Sprintf("ep-%d", n), AccountID: incAcct, ServiceID: w.pick([]string{"svc-1", "svc-2"}),
		VpcID: vpc, ConnectionStatus: model.ConnConnected, SecurityGroupIDs: []string{w.pick([]string{"sg-1", "sg-2"})}}
	for _, vsw := range vsws {
		sw := s.VSwitches[vsw]
		if sw == nil {
			continue
		}
		b := sw.CidrBlock.Addr().As4()
		z := model.EndpointZone{ZoneID: sw.ZoneID, VSwitchID: vsw, IP: netip.AddrFrom4([4]byte{b[0], b[1], byte(n / 200), byte(10 + n%200)})}
		if w.r.IntN(2) == 0 {
			z.Ipv6Address = netip.MustParseAddr(fmt.Sprintf("fd00:%d::%x", b[1], n+16))
		}
		ep.Zones = append(ep.Zones, z)
		s.Placements[ep.EndpointID+"/"+z.ZoneID] = &model.ENIPlacement{Node: w.pick([]string{"n1", "n2"}), NodeLease: 1}
	}
	s.Endpoints[ep.EndpointID] = ep
}

// step makes the next State with one random change.
func (w *incWorld) step() (string, *store.State) {
	o := w.s
	s := *o
	s.VPCs, s.VSwitches, s.Hosts = cloneMap(o.VPCs), cloneMap(o.VSwitches), cloneMap(o.Hosts)
	s.Services, s.SGs, s.Endpoints, s.Placements = cloneMap(o.Services), cloneMap(o.SGs), cloneMap(o.Endpoints), cloneMap(o.Placements)
	eps := keysOf(s.Endpoints)
	var what string
	editEP := func(f func(e *model.Endpoint)) {
		if len(eps) == 0 {
			return
		}
		e := *s.Endpoints[w.pick(eps)]
		e.Zones = append([]model.EndpointZone(nil), e.Zones...)
		f(&e)
		s.Endpoints[e.EndpointID] = &e
	}
	switch k := w.r.IntN(20); k {
	case 0, 1, 2:
		what = "endpoint added"
		w.addEndpoint(&s)
	case 3, 4:
		what = "endpoint deleted"
		if len(eps) > 0 {
			delete(s.Endpoints, w.pick(eps))
		}
	case 5:
		what = "endpoint connection status"
		editEP(func(e *model.Endpoint) {
			e.ConnectionStatus = w.pick([]string{model.ConnConnected, model.ConnPending, model.ConnDisconnected})
		})
	case 6:
		what = "endpoint bandwidth and groups"
		editEP(func(e *model.Endpoint) {
			e.ConnectionBandwidth = w.r.IntN(3)
			e.SecurityGroupIDs = [][]string{{"sg-1"}, {"sg-2"}, {"sg-1", "sg-2"}, {"sg-gone"}}[w.r.IntN(4)]
		})
	case 7:
		what = "endpoint zone disabled or dropped"
		editEP(func(e *model.Endpoint) {
			if len(e.Zones) == 0 {
				return
			}
			i := w.r.IntN(len(e.Zones))
			if w.r.IntN(2) == 0 {
				e.Zones[i].ConnectionDisabled = !e.Zones[i].ConnectionDisabled
			} else {
				e.Zones = append(e.Zones[:i], e.Zones[i+1:]...)
			}
		})
	case 8:
		what = "endpoint rewritten unchanged"
		editEP(func(*model.Endpoint) {})
	case 9:
		what = "placement moved"
		if ps := keysOf(s.Placements); len(ps) > 0 {
			p := *s.Placements[w.pick(ps)]
			p.Node, p.NodeLease = w.pick([]string{"n1", "n2"}), int64(1+w.r.IntN(2))
			s.Placements[w.pick(ps)] = &p
		}
	case 10, 11:
		what = "security group rewritten unchanged"
		id := w.pick([]string{"sg-1", "sg-2"})
		if g := s.SGs[id]; g != nil {
			c := *g
			s.SGs[id] = &c
		}
	case 12:
		what = "security group rules changed, or group deleted / re-made"
		id := w.pick([]string{"sg-1", "sg-2"})
		switch g := s.SGs[id]; {
		case g == nil:
			s.SGs[id] = &model.SecurityGroup{SecurityGroupID: id}
		case w.r.IntN(3) == 0:
			delete(s.SGs, id)
		default:
			c := *g
			c.Rules = []model.SecurityGroupRule{{SourceCidr: fmt.Sprintf("10.%d.0.0/16", w.r.IntN(4)), PortRange: "80/80", Policy: "accept", Priority: 1}}
			s.SGs[id] = &c
		}
	case 13:
		what = "service rewritten unchanged"
		id := w.pick([]string{"svc-1", "svc-2"})
		c := *s.Services[id]
		s.Services[id] = &c
	case 14:
		what = "service changed"
		id := w.pick([]string{"svc-1", "svc-2"})
		c := *s.Services[id]
		switch w.r.IntN(4) {
		case 0:
			c.Ports = [][]int{{80}, {80, 443}, {7001}}[w.r.IntN(3)]
		case 1:
			c.Resources = []model.Backend{{ZoneID: incZone, IP: netip.AddrFrom4([4]byte{10, 3, 0, byte(5 + w.r.IntN(3))}), Port: 8080}}
		case 2:
			c.UDPPorts = [][]int{nil, {53}, {53, 123}}[w.r.IntN(3)]
		case 3:
			c.AllowedAccounts = [][]string{nil, {"1999999999999999"}}[w.r.IntN(2)]
			c.AccountID = [...]string{incAcct, "1999999999999999"}[w.r.IntN(2)]
		}
		s.Services[id] = &c
	case 15:
		what = "VPC rewritten unchanged"
		id := w.pick([]string{"vpc-c1", "vpc-c2", "vpc-p"})
		if v := s.VPCs[id]; v != nil {
			c := *v
			c.Name = fmt.Sprint("touched ", w.r.IntN(100))
			s.VPCs[id] = &c
		}
	case 16:
		what = "provider VPC deleted or re-made"
		if s.VPCs["vpc-p"] != nil {
			delete(s.VPCs, "vpc-p")
		} else {
			s.VPCs["vpc-p"] = &model.VPC{VpcID: "vpc-p"}
		}
	case 17:
		what = "vSwitch deleted, re-made or renamed"
		id := w.pick([]string{"vsw-1", "vsw-2", "vsw-3"})
		switch v := w.s.VSwitches[id]; {
		case v == nil:
			s.VSwitches[id] = newIncWorld(0).s.VSwitches[id]
		case w.r.IntN(2) == 0:
			c := *v
			c.Name = "renamed"
			s.VSwitches[id] = &c
		default:
			delete(s.VSwitches, id)
		}
	case 18:
		what = "host added or deleted"
		if s.Hosts["i-3"] == nil {
			s.Hosts["i-3"] = &model.Host{HostID: "i-3", VpcID: "vpc-c2", VSwitchID: "vsw-3", IP: netip.MustParseAddr("10.2.0.9"),
				Ipv6Address: netip.MustParseAddr("fd00:2::9"), NodeName: "n2"}
		} else {
			delete(s.Hosts, "i-3")
		}
	case 19:
		what = "nothing"
	}
	w.s = &s
	return what, &s
}

// TestIncrementalMatchesFull applies random change sequences to a region
// and, after every step, compares the agent's incremental desired state
// (incremental.compute) with the full computation (computeScope with a
// fresh memo), for a zone agent and for a node agent whose lease changes
// now and then. It also checks that most rounds were patches, not
// rebuilds: the incremental is there to do work in proportion to the
// change.
func TestIncrementalMatchesFull(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := newIncWorld(seed)
			zoneInc, nodeInc := newIncremental(nil), newIncremental(nil)
			lease := int64(1)
			s := w.s
			var last *desired
			check := func(i int, what string) {
				t.Helper()
				got := zoneInc.compute(zoneScope(incZone), "zone/"+incZone, s)
				want := computeScope(zoneScope(incZone), s, newSpecMemo())
				if diff := diffDesired(got, want); diff != "" {
					t.Fatalf("step %d (%s), zone agent: incremental differs from full: %s", i, what, diff)
				}
				// applyNAT redoes only the endpoints named changed: every
				// other endpoint's part must be as last round.
				if got.changed != nil && last != nil {
					if ep := unchangedDiffers(last, want, got.changed); ep != "" {
						t.Fatalf("step %d (%s): endpoint %s changed but is not named changed (%v)", i, what, ep, got.changed)
					}
				}
				last = want
				got = nodeInc.compute(nodeScope(s, incZone, "n1", "n1", lease), nodeScopeKey(incZone, "n1", "n1", lease), s)
				if diff := diffDesired(got, computeScope(nodeScope(s, incZone, "n1", "n1", lease), s, newSpecMemo())); diff != "" {
					t.Fatalf("step %d (%s), node agent: incremental differs from full: %s", i, what, diff)
				}
			}
			check(0, "first round")
			const steps = 300
			for i := 1; i <= steps; i++ {
				var what string
				what, s = w.step()
				if w.r.IntN(40) == 0 {
					lease = int64(1 + w.r.IntN(2))
					what += ", node lease changed"
				}
				check(i, what)
			}
			if zoneInc.patches < steps/2 {
				t.Errorf("zone agent: %d patched rounds, %d rebuilt of %d: the incremental rebuilds too often", zoneInc.patches, zoneInc.fulls, steps+1)
			}
			t.Logf("zone agent: %d patched, %d rebuilt; node agent: %d patched, %d rebuilt", zoneInc.patches, zoneInc.fulls, nodeInc.patches, nodeInc.fulls)
		})
	}
}

// diffDesired names the first field where got differs from want ("" when
// equal).
func diffDesired(got, want *desired) string {
	for _, f := range []struct {
		name string
		a, b any
	}{{"vpcs", got.vpcs, want.vpcs}, {"vswitches", got.vswitches, want.vswitches}, {"hosts", got.hosts, want.hosts},
		{"enis", got.enis, want.enis}, {"listeners", got.listeners, want.listeners}, {"udp", got.udp, want.udp},
		{"ports", got.ports, want.ports}, {"zones", got.zones, want.zones}, {"zones6", got.zones6, want.zones6}} {
		if !reflect.DeepEqual(f.a, f.b) {
			return fmt.Sprintf("%s:\n got  %v\n want %v", f.name, f.a, f.b)
		}
	}
	return ""
}

// unchangedDiffers names an endpoint outside changed whose listeners, UDP
// listeners, ENI zones or ports differ between prev and cur ("" if none).
func unchangedDiffers(prev, cur *desired, changed map[string]bool) string {
	eps := map[string]bool{}
	for _, d := range []*desired{prev, cur} {
		for k := range d.listeners {
			eps[k.EndpointID] = true
		}
		for k := range d.udp {
			eps[k.EndpointID] = true
		}
		for id := range d.zones {
			eps[id] = true
		}
	}
	of := func(d *desired, id string) []any {
		var out []any
		for _, m := range []map[listenerKey]listenerSpec{d.listeners, d.udp} {
			sub := map[listenerKey]listenerSpec{}
			for k, v := range m {
				if k.EndpointID == id {
					sub[k] = v
				}
			}
			out = append(out, sub)
		}
		return append(out, d.zones[id], d.zones6[id], d.ports[id])
	}
	for id := range eps {
		if !changed[id] && !reflect.DeepEqual(of(prev, id), of(cur, id)) {
			return id
		}
	}
	return ""
}
