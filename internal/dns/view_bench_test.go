package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// bigView is a VPC view as the resolver publishes it for n endpoints of
// one service in one VPC: per endpoint its domain and its zone's domain
// (one address each), and the service name and service domain holding
// all n addresses.
func bigView(n int) (map[string][]netip.Addr, []string) {
	view := map[string][]netip.Addr{}
	var all []netip.Addr
	var names []string
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		ep := fmt.Sprintf("ep-%05d.epsrv-scale.%s", i, testZone)
		zone := fmt.Sprintf("ep-%05d-cn-hangzhou-h.epsrv-scale.%s", i, testZone)
		view[ep], view[zone] = []netip.Addr{ip}, []netip.Addr{ip}
		names = append(names, ep, zone)
		all = append(all, ip)
	}
	view["com.privlink.cn-hangzhou.epsrv-scale."] = all
	view["epsrv-scale."+testZone] = all
	return view, names
}

// BenchmarkView10k measures DNS over a real UDP socket on 127.0.0.1 with
// miekg/dns clients (8 workers, one socket each, one query in flight
// per worker) against a view of 20,002 names (10,000 endpoints): A
// queries over every endpoint and zone name in turn, and of the service
// name that holds 10,000 addresses. It reports queries/s and the p99
// latency.
//
//	go test -run '^$' -bench BenchmarkView10k -benchtime 20000x ./internal/dns/
func BenchmarkView10k(b *testing.B) {
	view, names := bigView(10000)
	s := newServer(b, Config{}, &Snapshot{Revision: 1, Views: map[string]map[string][]netip.Addr{vpcA: view}})
	addr := serveVPC(b, s, vpcA)
	for _, bc := range []struct {
		name  string
		names []string
	}{
		{"endpoint-names", names},
		{"service-name", []string{"com.privlink.cn-hangzhou.epsrv-scale."}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const workers = 8
			var (
				mu   sync.Mutex
				lats []time.Duration
				next int
			)
			take := func() (string, bool) {
				mu.Lock()
				defer mu.Unlock()
				if next >= b.N {
					return "", false
				}
				next++
				return bc.names[next%len(bc.names)], true
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
					conn, err := c.Dial(addr)
					if err != nil {
						b.Error(err)
						return
					}
					defer conn.Close()
					var mine []time.Duration
					for {
						name, ok := take()
						if !ok {
							break
						}
						m := new(mdns.Msg)
						m.SetQuestion(name, mdns.TypeA)
						t0 := time.Now()
						r, _, err := c.ExchangeWithConn(m, conn)
						if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
							b.Errorf("%s: %v %v", name, err, r)
							return
						}
						mine = append(mine, time.Since(t0))
					}
					mu.Lock()
					lats = append(lats, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			el := time.Since(start)
			slices.Sort(lats)
			if len(lats) > 0 {
				b.ReportMetric(float64(len(lats))/el.Seconds(), "queries/s")
				b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}

// BenchmarkViewChange10k is the cost of publishing one changed name in a
// view of 10,000 endpoints (20,002 names): SetSnapshot of every view
// (what the resolver did on every change) against PatchView of the
// changed names (an endpoint's domain and the two service names).
func BenchmarkViewChange10k(b *testing.B) {
	view, _ := bigView(10000)
	snap := &Snapshot{Revision: 1, Views: map[string]map[string][]netip.Addr{vpcA: view}}
	s := newServer(b, Config{}, snap)
	b.Run("SetSnapshot", func(b *testing.B) {
		for b.Loop() {
			s.SetSnapshot(snap)
		}
	})
	all := view["epsrv-scale."+testZone]
	patch := map[string][]netip.Addr{fmt.Sprintf("ep-%05d.epsrv-scale.%s", 7, testZone): {all[7]},
		"com.privlink.cn-hangzhou.epsrv-scale.": all, "epsrv-scale." + testZone: all}
	b.Run("PatchView", func(b *testing.B) {
		for b.Loop() {
			s.PatchView(2, vpcA, patch)
		}
	})
}
