package traffic

import (
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

// window is a fixed ring of n intervals of step seconds; slot i holds the
// interval whose index (unix seconds / step) is idx[i]. The ring is
// allocated at the first interval with something in it: most endpoints of
// a large node carry no traffic, and two rings are 13 KiB.
type window struct {
	step int64
	n    int
	idx  []int64 // nil until the first non-zero point
	pts  []point
}

func newWindow(step int64, n int) window { return window{step: step, n: n} }

func (w *window) add(t time.Time, d point) {
	if w.idx == nil {
		if d == (point{}) {
			return
		}
		w.idx, w.pts = make([]int64, w.n), make([]point, w.n)
		for i := range w.idx {
			w.idx[i] = -1
		}
	}
	k := t.Unix() / w.step
	s := int(k % int64(len(w.idx)))
	if w.idx[s] != k {
		w.idx[s], w.pts[s] = k, point{}
	}
	w.pts[s].add(d)
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
	for i := range w.idx {
		k := w.idx[i]
		if k < first || k > last {
			continue
		}
		for j, c := range cols {
			(*c)[k-first] = w.pts[i][j]
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
