package traffic

import (
	"slices"
	"time"

	"github.com/privlink/privlink/internal/model"
)

// Sample is one reading of an endpoint zone's proxy counters: Active is a
// gauge, the rest are cumulative counts since the counters were made.
type Sample struct {
	Active                               int64
	Conns, BytesIn, BytesOut             int64
	RejectedSG, RejectedLimit, RejRevoke int64
}

// point is one interval's aggregate, in model.TrafficSeries column order.
type point [7]int64

func (p *point) add(d point) {
	p[0] = max(p[0], d[0]) // active: the most seen at once
	for i := 1; i < len(p); i++ {
		p[i] += d[i]
	}
}

// window holds, oldest first, the intervals of step seconds among the last
// n that had something in them. Most endpoints of a large node carry
// traffic in few intervals, so a window holds those only (none for an
// endpoint that never carried anything; n for one busy in every interval).
type window struct {
	step int64
	n    int
	iv   []interval // ascending k
}

// interval is the aggregate of the interval whose index (unix seconds /
// step) is k.
type interval struct {
	k int64
	p point
}

func newWindow(step int64, n int) window { return window{step: step, n: n} }

func (w *window) add(t time.Time, d point) {
	if d == (point{}) {
		return
	}
	k := t.Unix() / w.step
	if n := len(w.iv); n > 0 && k <= w.iv[n-1].k-int64(w.n) {
		w.iv = w.iv[:0] // the clock went back further than the window: start again
	}
	i := len(w.iv)
	for i > 0 && w.iv[i-1].k > k { // the clock went back: find k's place
		i--
	}
	if i > 0 && w.iv[i-1].k == k {
		w.iv[i-1].p.add(d)
		return
	}
	w.iv = slices.Insert(w.iv, i, interval{k: k, p: d})
	// Drop what left the window (reusing the slice's space).
	newest := w.iv[len(w.iv)-1].k
	old := 0
	for old < len(w.iv) && w.iv[old].k <= newest-int64(w.n) {
		old++
	}
	if old > 0 {
		w.iv = append(w.iv[:0], w.iv[old:]...)
	}
}

// series returns the window's intervals ending with the one holding now.
func (w *window) series(now time.Time) model.TrafficSeries {
	n := int64(w.n)
	last := now.Unix() / w.step
	first := last - n + 1
	s := model.TrafficSeries{Start: time.Unix(first*w.step, 0).UTC().Format(time.RFC3339), StepSeconds: int(w.step)}
	cols := s.Columns()
	for _, c := range cols {
		*c = make([]int64, n)
	}
	for _, iv := range w.iv {
		if iv.k < first || iv.k > last {
			continue
		}
		for j, c := range cols {
			(*c)[iv.k-first] = iv.p[j]
		}
	}
	return s
}

// Ring is the traffic history of one endpoint zone. It is used by one
// goroutine.
type Ring struct {
	last      Sample
	have      bool
	hour, day window
}

// NewRing returns an empty ring.
func NewRing() *Ring {
	return &Ring{hour: newWindow(model.TrafficHourStep, model.TrafficHourPoints),
		day: newWindow(model.TrafficDayStep, model.TrafficDayPoints)}
}

// Add records a sample taken at t: the counters' growth since the last
// sample goes to t's intervals, and the active gauge counts towards their
// maximum. A counter lower than before was reset (its series was dropped
// and made again): its whole value is growth. The first sample sets the
// baseline only (except for the gauge).
func (r *Ring) Add(t time.Time, s Sample) {
	d := point{s.Active}
	if r.have {
		prev := [6]int64{r.last.Conns, r.last.BytesIn, r.last.BytesOut, r.last.RejectedSG, r.last.RejectedLimit, r.last.RejRevoke}
		cur := [6]int64{s.Conns, s.BytesIn, s.BytesOut, s.RejectedSG, s.RejectedLimit, s.RejRevoke}
		for i := range cur {
			if cur[i] >= prev[i] {
				d[i+1] = cur[i] - prev[i]
			} else {
				d[i+1] = cur[i]
			}
		}
	}
	r.last, r.have = s, true
	r.hour.add(t, d)
	r.day.add(t, d)
}

// Series returns the hour and day windows ending with now's intervals.
func (r *Ring) Series(now time.Time) (hour, day model.TrafficSeries) {
	return r.hour.series(now), r.day.series(now)
}
