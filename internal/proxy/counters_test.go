package proxy

import (
	"strconv"
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

// TestReadAfterForget: Forget drops an endpoint zone's series and the
// next reading starts from zero on new ones that are exported again (a
// handle kept across Forget would count into series nobody sees).
func TestReadAfterForget(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.forListener("ep-a", "z1").connOpened()
	if got := m.Read("ep-a", "z1"); got.Conns != 1 {
		t.Fatalf("before Forget: %+v", got)
	}
	m.Forget("ep-a", "z1")
	if got := m.Read("ep-a", "z1"); got != (Counters{}) {
		t.Fatalf("after Forget: %+v, want zero", got)
	}
	m.AddNAT("ep-a", "z1", NATDelta{NewConns: 2})
	if got := m.Read("ep-a", "z1"); got.Conns != 2 {
		t.Fatalf("counted after Forget: %+v", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "privlink_proxy_connections_total" {
			if n := len(mf.GetMetric()); n != 1 || mf.GetMetric()[0].GetCounter().GetValue() != 2 {
				t.Fatalf("exported %v", mf.GetMetric())
			}
			return
		}
	}
	t.Fatal("privlink_proxy_connections_total not exported")
}

// BenchmarkReadMany reads 10,000 endpoint zones' counters, as an agent's
// traffic sampling does every second at 10,000 endpoints.
func BenchmarkReadMany(b *testing.B) {
	m := NewMetrics(prometheus.NewRegistry())
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = "ep-" + strconv.Itoa(i)
		m.forListener(ids[i], "z1").connOpened()
	}
	b.ResetTimer()
	for range b.N {
		for _, id := range ids {
			m.Read(id, "z1")
		}
	}
}

// BenchmarkForListenerMany makes the series of 10,000 endpoint zones, as
// an agent's first round after a restart does for its listeners.
func BenchmarkForListenerMany(b *testing.B) {
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = "ep-" + strconv.Itoa(i)
	}
	for b.Loop() {
		m := NewMetrics(prometheus.NewRegistry())
		for _, id := range ids {
			m.forListener(id, "z1")
		}
	}
}

// TestLazySeries: an endpoint zone's drop, dial-failure and rejection
// series are made at their first count, read as 0 until then, and a
// late count on a listener Forget dropped makes no series again.
func TestLazySeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	lm := m.forListener("ep-a", "z1")
	families := func() map[string]int {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, mf := range mfs {
			out[mf.GetName()] = len(mf.GetMetric())
		}
		return out
	}
	got := families()
	if got["privlink_proxy_connections_total"] != 1 || got["privlink_proxy_bytes_total"] != 2 || got["privlink_proxy_connections_active"] != 1 {
		t.Fatalf("a served endpoint zone's connection and byte series: %v", got)
	}
	for _, name := range []string{"privlink_proxy_sg_drops_total", "privlink_proxy_backend_dial_failures_total", "privlink_proxy_rejected_total"} {
		if got[name] != 0 {
			t.Fatalf("%s made before its first count: %v", name, got)
		}
	}
	if c := m.Read("ep-a", "z1"); c != (Counters{}) {
		t.Fatalf("read before any count: %+v", c)
	}
	lm.sgDrop()
	lm.sgDrop()
	lm.reject(refusedConnLimit)
	lm.dialFailure()
	m.AddNAT("ep-a", "z1", NATDelta{Rejects: 3})
	if c := m.Read("ep-a", "z1"); c.SGDrops != 5 || c.Limited != 1 {
		t.Fatalf("read after counts: %+v", c)
	}
	got = families()
	if got["privlink_proxy_sg_drops_total"] != 1 || got["privlink_proxy_backend_dial_failures_total"] != 1 || got["privlink_proxy_rejected_total"] != 1 {
		t.Fatalf("series after the first counts: %v", got)
	}
	m.Forget("ep-a", "z1")
	lm.reject(revokedSG) // a late event of the closed listener
	lm.sgDrop()
	if n := seriesCount(t, reg); n != 0 {
		t.Fatalf("%d series after Forget and late counts, want 0: %v", n, families())
	}
}
