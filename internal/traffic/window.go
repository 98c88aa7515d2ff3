package traffic

import (
	"time"

	"github.com/privlink/privlink/internal/model"
)

// Window returns n intervals of step seconds ending with now's interval,
// each the sum of the matching intervals of every series given (series of
// another step, and intervals outside the window, are ignored). Summing the
// per-zone maxima of active connections gives an upper bound of the most
// open at once across zones (the zones' peaks need not coincide).
func Window(now time.Time, step, n int, series ...model.TrafficSeries) model.TrafficSeries {
	last := now.Unix() / int64(step)
	first := last - int64(n) + 1
	out := model.TrafficSeries{Start: time.Unix(first*int64(step), 0).UTC().Format(time.RFC3339), StepSeconds: step}
	cols := out.Columns()
	for _, c := range cols {
		*c = make([]int64, n)
	}
	for _, s := range series {
		if s.StepSeconds != step {
			continue
		}
		start, err := time.Parse(time.RFC3339, s.Start)
		if err != nil {
			continue
		}
		k0 := start.Unix() / int64(step)
		in := s.Columns()
		for i := 0; i < s.Len(); i++ {
			k := k0 + int64(i)
			if k < first || k > last {
				continue
			}
			for j, c := range cols {
				if i < len(*in[j]) {
					(*c)[k-first] += (*in[j])[i]
				}
			}
		}
	}
	return out
}

// Hour and Day are Window over the hour and the day windows.
func Hour(now time.Time, series ...model.TrafficSeries) model.TrafficSeries {
	return Window(now, model.TrafficHourStep, model.TrafficHourPoints, series...)
}

// Day is Window over the day window.
func Day(now time.Time, series ...model.TrafficSeries) model.TrafficSeries {
	return Window(now, model.TrafficDayStep, model.TrafficDayPoints, series...)
}

// Total sums column c of s (for summaries: bytes in the last hour).
func Total(col []int64) int64 {
	var t int64
	for _, v := range col {
		t += v
	}
	return t
}
