//go:build linux

package netdrv

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkNetnsIPv6FirstConnect measures the first TCP connect over IPv6
// between two freshly plugged dual-stack hosts of different vSwitches,
// with EnsureHost's neighbour seeding and gateway probe (settled) and
// without (bare). Reported: slow-first/op, the share of first connects
// that took more than 500 ms (a lost packet: SYN retransmission after
// 1 s), and first-ms/op, their mean. Not a test: nothing is asserted.
//
//	go test -run XXX -bench NetnsIPv6FirstConnect -benchtime 16x ./internal/netdrv/
func BenchmarkNetnsIPv6FirstConnect(b *testing.B) {
	for _, mode := range []struct {
		name  string
		limit time.Duration
	}{{"settled", ipv6ProbeLimit}, {"bare", 0}} {
		b.Run(mode.name, func(b *testing.B) {
			saved := ipv6ProbeLimit
			ipv6ProbeLimit = mode.limit
			defer func() { ipv6ProbeLimit = saved }()
			d := newTestNetns(b)
			vpc, s0, s1 := newID("vpc"), newID("vsw"), newID("vsw")
			if err := d.EnsureVPC(vpc); err != nil {
				b.Fatal(err)
			}
			for _, s := range []struct {
				id   string
				cidr netip.Prefix
				gw   netip.Addr
			}{{s0, cidr0, gw0}, {s1, cidr1, gw1}} {
				if err := d.EnsureVSwitch(vpc, s.id, s.cidr, s.gw); err != nil {
					b.Fatal(err)
				}
			}
			var slow int
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				n := 10 + i%200
				a := Host{ID: newID("i"), VpcID: vpc, VSwitchID: s0, IP: netip.MustParseAddr(fmt.Sprintf("192.168.0.%d", n)), Prefix: cidr0, Gateway: gw0,
					IP6: netip.MustParseAddr(fmt.Sprintf("fd00:aaaa:bbbb::%x", n)), Prefix6: v6sub0}
				c := Host{ID: newID("i"), VpcID: vpc, VSwitchID: s1, IP: netip.MustParseAddr(fmt.Sprintf("192.168.1.%d", n)), Prefix: cidr1, Gateway: gw1,
					IP6: netip.MustParseAddr(fmt.Sprintf("fd00:aaaa:bbbb:1::%x", n)), Prefix6: v6sub1}
				for _, h := range []Host{a, c} {
					if err := d.EnsureHost(h); err != nil {
						b.Fatal(err)
					}
				}
				ln, err := d.ListenHost(a.ID, netip.AddrPortFrom(a.IP6, 7001))
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				conn, err := d.DialHost(ctx, c.ID, netip.AddrPortFrom(a.IP6, 7001))
				cancel()
				took := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				conn.Close()
				ln.Close()
				total += took
				if took > 500*time.Millisecond {
					slow++
				}
				for _, h := range []Host{a, c} {
					if err := d.DeleteHost(h.ID); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(slow)/float64(b.N), "slow-first/op")
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "first-ms/op")
		})
	}
}
