package proxy

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsRead: a reading of an endpoint zone's series is what was
// recorded on them, other endpoint zones apart; limits add up, revocations
// stay apart; a nil *Metrics reads zero.
func TestMetricsRead(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	lm, other := m.forListener("ep-a", "z1"), m.forListener("ep-a", "z2")
	lm.connOpened()
	lm.connOpened()
	lm.connOpened()
	lm.connClosed()
	lm.addBytes(true, 100)
	lm.addBytes(false, 7)
	lm.sgDrop()
	lm.reject(refusedConnLimit)
	lm.reject(refusedRateLimit)
	lm.reject(refusedFDBudget)
	lm.reject(revokedSG)
	other.connOpened()
	want := Counters{Active: 2, Conns: 3, BytesIn: 100, BytesOut: 7, SGDrops: 1, Limited: 3, Revoked: 1}
	if got := m.Read("ep-a", "z1"); got != want {
		t.Errorf("Read = %+v, want %+v", got, want)
	}
	if got := m.Read("ep-a", "z2"); got != (Counters{Active: 1, Conns: 1}) {
		t.Errorf("other zone: %+v", got)
	}
	var nilM *Metrics
	if got := nilM.Read("ep-a", "z1"); got != (Counters{}) {
		t.Errorf("nil Metrics: %+v", got)
	}
}
