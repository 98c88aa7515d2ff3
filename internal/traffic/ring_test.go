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
	if r.hour.iv != nil || r.day.iv != nil {
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

// A window holds the intervals that carried something, at most its
// length's worth, in order even when the clock goes back.
func TestWindowHoldsOnlyIntervalsWithTraffic(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	r := NewRing()
	r.Add(t0, Sample{})
	r.Add(t0.Add(time.Second), Sample{Conns: 1})
	for i := range 30 * 60 { // half an hour of samples with nothing new
		r.Add(t0.Add(time.Duration(2+i)*time.Second), Sample{Conns: 1})
	}
	if len(r.hour.iv) != 1 || len(r.day.iv) != 1 {
		t.Fatalf("one minute of traffic: the windows hold %d and %d intervals, want 1 and 1", len(r.hour.iv), len(r.day.iv))
	}

	busy := NewRing()
	busy.Add(t0, Sample{})
	conns := int64(0)
	for m := range 120 { // one new connection every minute for two hours
		conns++
		busy.Add(t0.Add(time.Duration(m)*time.Minute+time.Second), Sample{Conns: conns})
	}
	if len(busy.hour.iv) != model.TrafficHourPoints || len(busy.day.iv) != 12 {
		t.Fatalf("two busy hours: the windows hold %d and %d intervals, want %d and 12", len(busy.hour.iv), len(busy.day.iv), model.TrafficHourPoints)
	}
	now := t0.Add(119*time.Minute + 30*time.Second)
	h, d := busy.Series(now)
	if Total(h.NewConnections) != 60 || Total(d.NewConnections) != 120 {
		t.Errorf("two busy hours: hour %d, day %d new connections, want 60 and 120", Total(h.NewConnections), Total(d.NewConnections))
	}

	back := NewRing()
	back.Add(t0, Sample{})
	back.Add(t0.Add(5*time.Minute), Sample{Conns: 2})
	back.Add(t0.Add(2*time.Minute), Sample{Conns: 5}) // the clock went back 3 minutes
	back.Add(t0.Add(5*time.Minute+10*time.Second), Sample{Conns: 6})
	h, _ = back.Series(t0.Add(5 * time.Minute))
	last := model.TrafficHourPoints - 1
	if h.NewConnections[last] != 2+1 || h.NewConnections[last-3] != 3 {
		t.Errorf("clock back: minute 5 %d (want 3), minute 2 %d (want 3): %v", h.NewConnections[last], h.NewConnections[last-3], h.NewConnections[last-5:])
	}

	// A clock set two days ahead and back again: what follows is kept.
	back.Add(t0.Add(48*time.Hour), Sample{Conns: 7})
	back.Add(t0.Add(6*time.Minute), Sample{Conns: 9})
	h, _ = back.Series(t0.Add(6 * time.Minute))
	if h.NewConnections[last] != 2 {
		t.Errorf("after the clock came back from two days ahead: minute 6 %d, want 2", h.NewConnections[last])
	}
}

// BenchmarkRingMemory reports what a ring holds after an endpoint carried
// one round trip (the scale bench's fill) and after a day of traffic in
// every minute.
//
//	go test -run '^$' -bench BenchmarkRingMemory -benchmem ./internal/traffic/
func BenchmarkRingMemory(b *testing.B) {
	t0 := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	b.Run("one-round-trip", func(b *testing.B) {
		for b.Loop() {
			r := NewRing()
			r.Add(t0, Sample{})
			r.Add(t0.Add(time.Second), Sample{Conns: 1, BytesIn: 64, BytesOut: 64})
		}
	})
	b.Run("busy-day", func(b *testing.B) {
		for b.Loop() {
			r := NewRing()
			for m := range 24 * 60 {
				r.Add(t0.Add(time.Duration(m)*time.Minute), Sample{Conns: int64(m)})
			}
		}
	})
}
