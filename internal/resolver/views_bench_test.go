package resolver

import (
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"testing"

	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// scaleState is the bench's scale layout in one VPC: n endpoints of one
// service, one zone each, all connected and healthy.
func scaleState(n int) *store.State {
	st := &store.State{Rev: 1,
		Services:  map[string]*model.EndpointService{"epsrv-0": {ServiceID: "epsrv-0", AccountID: "acct-c", Name: "com.privlink.cn-hangzhou.epsrv-0", ServiceDomain: "epsrv-0." + testDomain}},
		Endpoints: map[string]*model.Endpoint{}, Reports: map[string]*model.ZoneReport{},
		Agents: map[string]*model.AgentInfo{"zh": {ZoneID: "zh"}},
	}
	for i := range n {
		id := fmt.Sprintf("ep-%05d", i)
		st.Endpoints[id] = &model.Endpoint{EndpointID: id, AccountID: "acct-c", ServiceID: "epsrv-0", VpcID: "vpc-1",
			EndpointDomain: id + ".epsrv-0." + testDomain, EndpointStatus: model.StatusActive, ConnectionStatus: model.ConnConnected,
			Zones: []model.EndpointZone{{ZoneID: "zh", IP: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), ZoneDomain: id + "-zh.epsrv-0." + testDomain}}}
		st.Reports["zh/"+id] = &model.ZoneReport{EndpointID: id, ZoneID: "zh", Ready: true, Healthy: true}
	}
	return st
}

// BenchmarkOneChange is what the resolver spends on one change with n
// endpoints in one VPC: one endpoint's report deleted (its zone no
// longer ready: its names go, and its address leaves the service names)
// or written back. "build" derives every view and installs them (the
// resolver before), "incremental" updates the views (finding the changed
// records by comparing the maps, store.Changes) and patches the DNS
// server, "incremental+log" is that with the changed records given, as
// the cache's change log (Cache.ChangesSince) gives them.
//
//	go test -run '^$' -bench BenchmarkOneChange ./internal/resolver/
func BenchmarkOneChange(b *testing.B) {
	id := func(_ string, ip netip.Addr) netip.Addr { return ip }
	for _, n := range []int{1000, 3000, 10000} {
		st := scaleState(n)
		var changed []string
		flip := func(st *store.State, i int) *store.State {
			next := *st
			next.Rev++
			next.Reports = maps.Clone(st.Reports)
			epID := fmt.Sprintf("ep-%05d", (i/2)%n)
			if r := next.Reports["zh/"+epID]; r != nil {
				delete(next.Reports, "zh/"+epID)
			} else {
				next.Reports["zh/"+epID] = &model.ZoneReport{EndpointID: epID, ZoneID: "zh", Ready: true, Healthy: true}
			}
			changed = []string{store.ReportRecord("zh", epID)}
			return &next
		}
		srv, err := dns.New(dns.Config{Zone: testDomain})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("build/%d", n), func(b *testing.B) {
			cur, i := st, 0
			for b.Loop() {
				cur = flip(cur, i)
				i++
				srv.SetSnapshot(Build(cur, id))
			}
		})
		for _, log := range []bool{false, true} {
			name := "incremental"
			if log {
				name += "+log"
			}
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				v := NewViews(id)
				if log {
					v.WithChanges(func(_, _ *store.State, _ ...string) []string { return changed })
				}
				v.Update(st)
				srv.SetSnapshot(v.Snapshot(st.Rev))
				cur, i := st, 0
				for b.Loop() {
					cur = flip(cur, i)
					i++
					patches := v.Update(cur)
					if len(patches["vpc-1"]) != 4 {
						b.Fatalf("patched %d names, want 4", len(patches["vpc-1"]))
					}
					for vpc, names := range patches {
						srv.PatchView(cur.Rev, vpc, names)
					}
				}
			})
		}
		srv.Close()
	}
}

// BenchmarkViewsMemory reports what Views holds per endpoint (live heap
// after GC) for 10,000 endpoints of one service in one VPC.
//
//	go test -run '^$' -bench BenchmarkViewsMemory -benchtime 1x ./internal/resolver/
func BenchmarkViewsMemory(b *testing.B) {
	const n = 10000
	st := scaleState(n)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		v := NewViews(func(_ string, ip netip.Addr) netip.Addr { return ip })
		v.Update(st)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/endpoint")
		runtime.KeepAlive(v)
	}
}
