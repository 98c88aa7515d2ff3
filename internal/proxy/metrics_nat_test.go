package proxy

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestAddNAT: kernel NAT figures add up in the same series as the proxy's
// (bytes, connections, refusals), the active count is set, not added; a
// nil *Metrics ignores them.
func TestAddNAT(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.AddNAT("ep-a", "z1", NATDelta{BytesIn: 100, BytesOut: 7, NewConns: 3, Rejects: 2, Active: 3})
	m.AddNAT("ep-a", "z1", NATDelta{BytesIn: 50, NewConns: 1, Active: 1})
	want := Counters{Active: 1, Conns: 4, BytesIn: 150, BytesOut: 7, SGDrops: 2}
	if got := m.Read("ep-a", "z1"); got != want {
		t.Errorf("Read = %+v, want %+v", got, want)
	}
	var nilM *Metrics
	nilM.AddNAT("ep-a", "z1", NATDelta{BytesIn: 1})
}
