package proxy

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// toFloat64 returns the value of a collector holding exactly one counter or
// gauge, like prometheus/testutil.ToFloat64. (testutil itself needs
// github.com/kylelemons/godebug, which is not in go.sum.)
func toFloat64(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 2)
	c.Collect(ch)
	close(ch)
	var vals []float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		switch {
		case pb.Counter != nil:
			vals = append(vals, pb.Counter.GetValue())
		case pb.Gauge != nil:
			vals = append(vals, pb.Gauge.GetValue())
		}
	}
	if len(vals) != 1 {
		t.Fatalf("collector has %d counter/gauge metrics, want 1", len(vals))
	}
	return vals[0]
}

// seriesCount gathers reg and counts its series.
func seriesCount(t testing.TB, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}
