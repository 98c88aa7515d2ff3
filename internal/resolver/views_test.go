package resolver

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// world generates random States over a small fixed universe of VPCs,
// services, endpoints, zones, agents, nodes, reports and placements, so
// that random changes often hit shared names and shared inputs.
type world struct {
	r  *rand.Rand
	st *store.State
}

var (
	testVPCs  = []string{"vpc-1", "vpc-2", "vpc-3"}
	testZones = []string{"zh", "zi"}
	testNodes = []string{"n1", "n2"}
)

const testDomain = "cn-hangzhou.privatelink.internal"

func newWorld(seed uint64) *world {
	w := &world{r: rand.New(rand.NewPCG(seed, 15)), st: &store.State{
		Services: map[string]*model.EndpointService{}, Endpoints: map[string]*model.Endpoint{},
		Reports: map[string]*model.ZoneReport{}, Agents: map[string]*model.AgentInfo{},
		Nodes: map[string]*model.NodeStatus{}, Placements: map[string]*model.ENIPlacement{},
	}}
	for range 40 {
		w.change()
	}
	return w
}

func (w *world) pick(n int) int { return w.r.IntN(n) }
func (w *world) coin() bool     { return w.r.IntN(2) == 0 }

func (w *world) service(i int) *model.EndpointService {
	s := &model.EndpointService{ServiceID: fmt.Sprintf("epsrv-%d", i), AccountID: "acct-p",
		Name: fmt.Sprintf("com.privlink.cn-hangzhou.epsrv-%d", i), ServiceDomain: fmt.Sprintf("epsrv-%d.%s", i, testDomain)}
	if w.pick(4) > 0 {
		s.AllowedAccounts = []string{"acct-c"}
	}
	if w.coin() {
		s.AddressIPVersion = model.AddressDualStack
	}
	return s
}

func (w *world) endpoint(i int) *model.Endpoint {
	vpc := w.pick(len(testVPCs))
	svc := w.pick(3)
	ep := &model.Endpoint{EndpointID: fmt.Sprintf("ep-%d", i), AccountID: "acct-c", ServiceID: fmt.Sprintf("epsrv-%d", svc),
		VpcID: testVPCs[vpc], EndpointDomain: fmt.Sprintf("ep-%d.epsrv-%d.%s", i, svc, testDomain),
		EndpointStatus: model.StatusActive, ConnectionStatus: model.ConnConnected}
	if w.pick(5) == 0 {
		ep.ConnectionStatus = model.ConnPending
	}
	if w.pick(5) == 0 {
		ep.EndpointStatus = model.StatusCreating
	}
	for zi, z := range testZones {
		if w.pick(4) == 0 {
			continue
		}
		ez := model.EndpointZone{ZoneID: z, IP: netip.AddrFrom4([4]byte{10, byte(vpc), byte(i), byte(zi + 1)}),
			ZoneDomain: fmt.Sprintf("ep-%d-%s.epsrv-%d.%s", i, z, svc, testDomain), ConnectionDisabled: w.pick(6) == 0}
		if w.coin() {
			ez.Ipv6Address = netip.AddrFrom16([16]byte{0xfd, 0, byte(vpc), 15: byte(i)})
		}
		ep.Zones = append(ep.Zones, ez)
	}
	return ep
}

// change makes one random change to the State (in place: the caller
// works on a copy).
func (w *world) change() {
	st := w.st
	ep, z, node := w.pick(25), testZones[w.pick(2)], testNodes[w.pick(2)]
	epID := fmt.Sprintf("ep-%d", ep)
	switch w.pick(11) {
	case 0, 1, 2:
		st.Endpoints[epID] = w.endpoint(ep)
	case 3:
		delete(st.Endpoints, epID)
	case 4:
		i := w.pick(3)
		if w.pick(4) == 0 {
			delete(st.Services, fmt.Sprintf("epsrv-%d", i))
		} else {
			st.Services[fmt.Sprintf("epsrv-%d", i)] = w.service(i)
		}
	case 5:
		if st.Agents[z] != nil {
			delete(st.Agents, z)
		} else {
			st.Agents[z] = &model.AgentInfo{ZoneID: z}
		}
	case 6, 7:
		rep := &model.ZoneReport{EndpointID: epID, ZoneID: z, Ready: w.pick(5) > 0, Healthy: w.coin(), Node: node, Epoch: int64(1 + w.pick(2))}
		if w.pick(8) == 0 {
			rep.Error = "broken"
		}
		st.Reports[z+"/"+epID] = rep
	case 8:
		delete(st.Reports, z+"/"+epID)
	case 9:
		if w.coin() {
			delete(st.Placements, epID+"/"+z)
		} else {
			st.Placements[epID+"/"+z] = &model.ENIPlacement{Node: node, NodeLease: int64(1 + w.pick(2)), Epoch: int64(1 + w.pick(2))}
		}
	case 10:
		if w.coin() {
			delete(st.Nodes, node)
		} else {
			st.Nodes[node] = &model.NodeStatus{Name: node, LeaseID: int64(1 + w.pick(2))}
		}
	}
}

// step returns the next State: a copy with 0-3 random changes (the maps
// copied, the records not changed shared, as the store's cache does) or,
// now and then, a relist (every record a new value).
func (w *world) step() *store.State {
	prev := w.st
	next := *prev
	next.Rev++
	next.Services, next.Endpoints, next.Reports = maps.Clone(prev.Services), maps.Clone(prev.Endpoints), maps.Clone(prev.Reports)
	next.Agents, next.Nodes, next.Placements = maps.Clone(prev.Agents), maps.Clone(prev.Nodes), maps.Clone(prev.Placements)
	w.st = &next
	if w.pick(20) == 0 {
		relist(next.Services)
		relist(next.Endpoints)
		relist(next.Reports)
		relist(next.Agents)
		relist(next.Nodes)
		relist(next.Placements)
		return w.st
	}
	for range w.pick(4) {
		w.change()
	}
	return w.st
}

func relist[V any](m map[string]*V) {
	for k, v := range m {
		c := *v
		m[k] = &c
	}
}

// normal is a snapshot's views as sets: sorted, deduplicated, without
// empty views.
func normal(snap *dns.Snapshot) map[string]map[string][]netip.Addr {
	out := map[string]map[string][]netip.Addr{}
	for vpc, names := range snap.Views {
		if len(names) == 0 {
			continue
		}
		view := map[string][]netip.Addr{}
		for name, addrs := range names {
			a := slices.Clone(addrs)
			slices.SortFunc(a, netip.Addr.Compare)
			view[name] = slices.Compact(a)
		}
		out[vpc] = view
	}
	return out
}

func sameViews(a, b map[string]map[string][]netip.Addr) bool {
	return maps.EqualFunc(a, b, func(x, y map[string][]netip.Addr) bool {
		return maps.EqualFunc(x, y, slices.Equal[[]netip.Addr])
	})
}

// TestViewsMatchBuild drives random sequences of changes (endpoints,
// services, reports, agents, nodes, placements, and relists) and checks
// after every step that the incremental views equal Build of the same
// State, and that the patches Update returned, applied in order to what
// was published before, give the same views too (what the DNS server
// holds). Both address mappings the drivers use are covered.
func TestViewsMatchBuild(t *testing.T) {
	loopback := func(_ string, ip netip.Addr) netip.Addr {
		if !ip.Is4() {
			return ip
		}
		b := ip.As4()
		return netip.AddrFrom4([4]byte{127, b[1], b[2], b[3]})
	}
	for _, tc := range []struct {
		name    string
		mapAddr func(string, netip.Addr) netip.Addr
	}{
		{"netns", func(_ string, ip netip.Addr) netip.Addr { return ip }},
		{"loopback", loopback},
	} {
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("%s/seed%d", tc.name, seed), func(t *testing.T) {
				w := newWorld(seed)
				v := NewViews(tc.mapAddr)
				v.Update(w.st)
				published := normal(v.Snapshot(w.st.Rev))
				patched := 0
				for i := range 300 {
					st := w.step()
					patches := v.Update(st)
					want := normal(Build(st, tc.mapAddr))
					if got := normal(v.Snapshot(st.Rev)); !sameViews(got, want) {
						t.Fatalf("step %d: incremental views differ from Build:\n got %v\nwant %v", i, got, want)
					}
					for vpc, names := range patches {
						for name, addrs := range names {
							patched++
							if published[vpc] == nil {
								published[vpc] = map[string][]netip.Addr{}
							}
							if len(addrs) == 0 {
								delete(published[vpc], name)
								continue
							}
							published[vpc][name] = addrs
						}
					}
					if got := normal(&dns.Snapshot{Views: published}); !sameViews(got, want) {
						t.Fatalf("step %d: the patches applied in order differ from Build:\n got %v\nwant %v", i, got, want)
					}
				}
				if patched == 0 {
					t.Fatal("300 steps patched nothing: the generator changes nothing visible")
				}
			})
		}
	}
}

// TestViewsPatchOnlyWhatChanged: a change that leaves an endpoint's
// addresses as they were (a report rewritten unchanged, an unrelated
// endpoint's record) patches no name; a change of one endpoint's health
// patches its names and the shared service names only, not the other
// endpoints'.
func TestViewsPatchOnlyWhatChanged(t *testing.T) {
	st := &store.State{Rev: 1,
		Services:  map[string]*model.EndpointService{"epsrv-0": {ServiceID: "epsrv-0", AccountID: "acct-c", Name: "svc.example", ServiceDomain: "epsrv-0." + testDomain}},
		Endpoints: map[string]*model.Endpoint{}, Reports: map[string]*model.ZoneReport{},
		Agents: map[string]*model.AgentInfo{"zh": {ZoneID: "zh"}},
	}
	for i := range 100 {
		id := fmt.Sprintf("ep-%d", i)
		st.Endpoints[id] = &model.Endpoint{EndpointID: id, AccountID: "acct-c", ServiceID: "epsrv-0", VpcID: "vpc-1",
			EndpointDomain: id + "." + testDomain, EndpointStatus: model.StatusActive, ConnectionStatus: model.ConnConnected,
			Zones: []model.EndpointZone{
				{ZoneID: "zh", IP: netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), ZoneDomain: id + "-zh." + testDomain},
				{ZoneID: "zh2", IP: netip.AddrFrom4([4]byte{10, 0, byte(i), 2}), ZoneDomain: id + "-zh2." + testDomain},
			}}
		st.Reports["zh/"+id] = &model.ZoneReport{EndpointID: id, ZoneID: "zh", Ready: true, Healthy: true}
		st.Reports["zh2/"+id] = &model.ZoneReport{EndpointID: id, ZoneID: "zh2", Ready: true, Healthy: true}
	}
	st.Agents["zh2"] = &model.AgentInfo{ZoneID: "zh2"}
	v := NewViews(func(_ string, ip netip.Addr) netip.Addr { return ip })
	if len(v.Update(st)["vpc-1"]) != 100*3+2 {
		t.Fatalf("first update did not publish every name")
	}
	next := func(edit func(s *store.State)) map[string][]netip.Addr {
		n := *st
		n.Rev++
		n.Reports, n.Endpoints = maps.Clone(st.Reports), maps.Clone(st.Endpoints)
		edit(&n)
		st = &n
		return v.Update(st)["vpc-1"]
	}
	if got := next(func(s *store.State) { r := *s.Reports["zh/ep-7"]; s.Reports["zh/ep-7"] = &r }); len(got) != 0 {
		t.Errorf("a report rewritten unchanged patched %v", slices.Collect(maps.Keys(got)))
	}
	got := next(func(s *store.State) { r := *s.Reports["zh/ep-7"]; r.Healthy = false; s.Reports["zh/ep-7"] = &r })
	want := []string{"ep-7." + testDomain + ".", "epsrv-0." + testDomain + ".", "svc.example."}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, want) {
		t.Errorf("zone zh of ep-7 unhealthy patched %v, want %v", keys, want)
	}
	if a := got["ep-7."+testDomain+"."]; len(a) != 1 || a[0] != netip.MustParseAddr("10.0.7.2") {
		t.Errorf("ep-7 now answers %v, want its healthy zone only", a)
	}
	if a := got["svc.example."]; len(a) != 199 {
		t.Errorf("the service name holds %d addresses, want 199 (the union without ep-7's unhealthy zone)", len(a))
	}
	got = next(func(s *store.State) { delete(s.Endpoints, "ep-9") })
	if len(got) != 5 || got["ep-9."+testDomain+"."] != nil || len(got["svc.example."]) != 197 {
		t.Errorf("deleting ep-9 patched %d names (want its 3 and the 2 service names), service name %d addresses", len(got), len(got["svc.example."]))
	}
}
