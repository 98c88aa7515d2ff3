package traffic

import (
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
)

func TestRing(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	r := NewRing()
	r.Add(t0, Sample{Active: 1, Conns: 5, BytesIn: 100}) // baseline: counters not counted
	r.Add(t0.Add(10*time.Second), Sample{Active: 3, Conns: 7, BytesIn: 150, BytesOut: 40, RejectedSG: 1})
	r.Add(t0.Add(70*time.Second), Sample{Active: 2, Conns: 8, BytesIn: 160, BytesOut: 40, RejectedSG: 1, RejectedLimit: 2})
	// a counter reset (series dropped and made again) counts its whole value
	r.Add(t0.Add(80*time.Second), Sample{Active: 0, Conns: 1, BytesIn: 5, BytesOut: 40, RejectedSG: 1, RejectedLimit: 2, RejRevoke: 1})
	now := t0.Add(90 * time.Second)
	h, d := r.Series(now)
	if h.Len() != model.TrafficHourPoints || d.Len() != model.TrafficDayPoints {
		t.Fatalf("lengths %d %d", h.Len(), d.Len())
	}
	last, prev := model.TrafficHourPoints-1, model.TrafficHourPoints-2
	tests := []struct {
		name string
		col  []int64
		i    int
		want int64
	}{
		{"active minute 0 is the max", h.ActiveConnections, prev, 3},
		{"new conns minute 0", h.NewConnections, prev, 2},
		{"bytes in minute 0", h.BytesIn, prev, 50},
		{"bytes out minute 0", h.BytesOut, prev, 40},
		{"sg rejects minute 0", h.RejectedSecurityGroup, prev, 1},
		{"active minute 1", h.ActiveConnections, last, 2},
		{"new conns minute 1 with reset", h.NewConnections, last, 2},
		{"bytes in minute 1 with reset", h.BytesIn, last, 15},
		{"limit rejects minute 1", h.RejectedLimit, last, 2},
		{"revoked minute 1", h.RejectedRevoked, last, 1},
		{"day: one 10-minute interval", d.NewConnections, model.TrafficDayPoints - 1, 4},
		{"day active max", d.ActiveConnections, model.TrafficDayPoints - 1, 3},
		{"older minutes empty", h.NewConnections, 0, 0},
	}
	for _, tc := range tests {
		if got := tc.col[tc.i]; got != tc.want {
			t.Errorf("%s: [%d] = %d, want %d", tc.name, tc.i, got, tc.want)
		}
	}
	if h.Start != now.Add(-59*time.Minute).Truncate(time.Minute).Format(time.RFC3339) {
		t.Errorf("hour start %s", h.Start)
	}
	// An hour later, the minutes have left the hour window but not the day.
	h, d = r.Series(now.Add(time.Hour))
	if Total(h.NewConnections) != 0 || Total(d.NewConnections) != 4 {
		t.Errorf("an hour later: hour %d day %d new conns", Total(h.NewConnections), Total(d.NewConnections))
	}
	rep := model.TrafficReport{EndpointID: "ep-" + "abcdefghijklmnopqrst", ZoneID: "z", Hour: h, Day: d}
	if err := rep.Validate(); err != nil {
		t.Errorf("ring series do not validate: %v", err)
	}
}

func TestWindowSumsAndAligns(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 11, 0, 30, 0, time.UTC)
	a, b := NewRing(), NewRing()
	a.Add(t0, Sample{})
	a.Add(t0.Add(time.Second), Sample{Conns: 3, Active: 2})
	b.Add(t0, Sample{})
	b.Add(t0.Add(time.Second), Sample{Conns: 4, Active: 1})
	ha, _ := a.Series(t0)
	hb, _ := b.Series(t0.Add(2 * time.Minute)) // written later: another start
	w := Hour(t0.Add(2*time.Minute), ha, hb)
	i := model.TrafficHourPoints - 3
	if w.NewConnections[i] != 7 || w.ActiveConnections[i] != 3 {
		t.Errorf("aligned sum at %d: new %d active %d, want 7 and 3 (%v)", i, w.NewConnections[i], w.ActiveConnections[i], w.NewConnections)
	}
	if Total(w.NewConnections) != 7 {
		t.Errorf("total %d, want 7", Total(w.NewConnections))
	}
	bad := ha
	bad.StepSeconds = 600
	if got := Total(Hour(t0, bad).NewConnections); got != 0 {
		t.Errorf("a series of another step counted: %d", got)
	}
}

// An endpoint that carries nothing holds no window (most endpoints of a
// node with 10,000 carry nothing): its series are still full length and
// zero, and its first traffic starts the windows with the right values.
func TestIdleRingHoldsNoWindow(t *testing.T) {
	r := NewRing()
	t0 := time.Unix(1_800_000_000, 0)
	for i := range 100 {
		r.Add(t0.Add(time.Duration(i)*time.Second), Sample{})
	}
	if r.hour.idx != nil || r.day.idx != nil {
		t.Fatal("an idle ring allocated its windows")
	}
	hour, day := r.Series(t0.Add(100 * time.Second))
	if len(hour.NewConnections) != model.TrafficHourPoints || len(day.NewConnections) != model.TrafficDayPoints {
		t.Fatalf("series lengths %d, %d", len(hour.NewConnections), len(day.NewConnections))
	}
	for _, v := range append(hour.NewConnections, day.NewConnections...) {
		if v != 0 {
			t.Fatalf("idle ring has traffic: %v", hour.NewConnections)
		}
	}
	now := t0.Add(200 * time.Second)
	r.Add(now, Sample{Conns: 5, Active: 2})
	hour, _ = r.Series(now)
	if last := len(hour.NewConnections) - 1; hour.NewConnections[last] != 5 || hour.ActiveConnections[last] != 2 {
		t.Fatalf("first traffic: conns %d active %d, want 5, 2", hour.NewConnections[last], hour.ActiveConnections[last])
	}
}
