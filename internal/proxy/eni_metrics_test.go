package proxy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestENIInfo: SetENIs replaces exactly an endpoint zone's series (the
// other zones' and endpoints' stay), an empty set removes them, and
// Forget drops them.
func TestENIInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	series := func() []string {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			if mf.GetName() != "privlink_endpoint_eni_info" {
				continue
			}
			for _, mt := range mf.GetMetric() {
				var l []string
				for _, lp := range mt.GetLabel() {
					l = append(l, lp.GetValue())
				}
				out = append(out, strings.Join(l, " ")) // address endpoint family zone
			}
		}
		slices.Sort(out)
		return out
	}
	ips := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	for _, step := range []struct {
		name string
		do   func()
		want []string
	}{
		{"set", func() {
			m.SetENIs("ep-1", "h", ips("10.0.0.5"))
			m.SetENIs("ep-1", "i", ips("10.0.1.5"))
			m.SetENIs("ep-2", "h", ips("10.0.0.6"))
		}, []string{"10.0.0.5 ep-1 ipv4 h", "10.0.0.6 ep-2 ipv4 h", "10.0.1.5 ep-1 ipv4 i"}},
		{"replace with dual-stack", func() { m.SetENIs("ep-1", "h", ips("10.0.0.7", "fd00::7")) },
			[]string{"10.0.0.6 ep-2 ipv4 h", "10.0.0.7 ep-1 ipv4 h", "10.0.1.5 ep-1 ipv4 i", "fd00::7 ep-1 ipv6 h"}},
		{"empty", func() { m.SetENIs("ep-1", "i", nil) },
			[]string{"10.0.0.6 ep-2 ipv4 h", "10.0.0.7 ep-1 ipv4 h", "fd00::7 ep-1 ipv6 h"}},
		{"forget", func() { m.Forget("ep-1", "h") }, []string{"10.0.0.6 ep-2 ipv4 h"}},
	} {
		step.do()
		if got := series(); !slices.Equal(got, step.want) {
			t.Errorf("%s: series %q, want %q", step.name, got, step.want)
		}
	}
}

// BenchmarkSetENIs records the ENI of 10,000 endpoints from empty, as an
// agent's first round after a restart does.
//
//	go test ./internal/proxy -run XXX -bench SetENIs -benchtime 3x
func BenchmarkSetENIs(b *testing.B) {
	const n = 10000
	addrs := make([][]netip.Addr, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = "ep-" + strings.Repeat("x", 14) + string(rune('a'+i%26)) + netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()
		addrs[i] = []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})}
	}
	for b.Loop() {
		m := NewMetrics(nil)
		for i := range n {
			m.SetENIs(ids[i], "cn-hangzhou-h", addrs[i])
		}
	}
}
