//go:build linux

package netdrv

import (
	"net"
	"net/netip"
	"testing"
)

// BenchmarkListenMany opens 2,000 listeners in one VPC namespace per
// iteration, one Listen (a setns pair) each against ListenMany in batches
// of 256 (as the agent does after a restart), and closes them.
//
//	go test ./internal/netdrv -run XXX -bench ListenMany -benchtime 10x
func BenchmarkListenMany(b *testing.B) {
	d := newTestNetns(b)
	vpc := newID("vpc")
	if err := d.EnsureVPC(vpc); err != nil {
		b.Fatal(err)
	}
	const n, batch = 2000, 256
	addrs := make([]netip.AddrPort, n)
	for i := range addrs {
		addrs[i] = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(20000+i))
	}
	closeAll := func(lns []net.Listener) {
		for _, ln := range lns {
			ln.Close()
		}
	}
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			lns := make([]net.Listener, 0, n)
			for _, a := range addrs {
				ln, err := d.Listen(vpc, a)
				if err != nil {
					b.Fatal(err)
				}
				lns = append(lns, ln)
			}
			b.StopTimer()
			closeAll(lns)
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/listener")
	})
	b.Run("batch256", func(b *testing.B) {
		for b.Loop() {
			lns := make([]net.Listener, 0, n)
			for i := 0; i < n; i += batch {
				got, errs := d.ListenMany(vpc, addrs[i:min(i+batch, n)])
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				lns = append(lns, got...)
			}
			b.StopTimer()
			closeAll(lns)
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/listener")
	})
}
