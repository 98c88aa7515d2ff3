package console

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// line is one series of a chart with its legend and colour.
type line struct {
	Name   string
	Colour string
	Values []float64
}

// Chart geometry (SVG user units; the SVG scales to its box).
const (
	chartW, chartH         = 600, 170
	padL, padR, padT, padB = 56, 10, 10, 34
)

// svgChart draws lines over a time axis starting at start with one point
// per step as an inline SVG: no script, no style attribute (the CSP allows
// neither inline), every text escaped. data-total is the sum of every
// value (what tests and screen readers can check); unit formats values.
func svgChart(id, title string, start time.Time, step time.Duration, unit func(float64) string, lines ...line) template.HTML {
	n, maxV, total := 0, 0.0, 0.0
	for _, l := range lines {
		n = max(n, len(l.Values))
		for _, v := range l.Values {
			maxV = math.Max(maxV, v)
			total += v
		}
	}
	top := niceCeil(maxV)
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t" data-total="%s" data-max="%s" xmlns="http://www.w3.org/2000/svg">`,
		esc(id), chartW, chartH, esc(id), strconv.FormatFloat(total, 'f', -1, 64), strconv.FormatFloat(maxV, 'f', -1, 64))
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, esc(id), esc(title))
	x0, x1, y0, y1 := float64(padL), float64(chartW-padR), float64(chartH-padB), float64(padT)
	// grid: 0, half, top
	for _, f := range []float64{0, 0.5, 1} {
		y := y0 - f*(y0-y1)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#d8dde3" stroke-width="1"/>`, x0, y, x1, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="11" text-anchor="end" fill="#56606b">%s</text>`, x0-4, y+4, esc(unit(f*top)))
	}
	// time axis: first, middle and last interval
	if n > 0 {
		for _, i := range []int{0, n / 2, n - 1} {
			x := x0 + float64(i)*(x1-x0)/math.Max(float64(n-1), 1)
			anchor := "middle"
			if i == 0 {
				anchor = "start"
			} else if i == n-1 {
				anchor = "end"
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="%s" fill="#56606b">%s</text>`,
				x, y0+14, anchor, start.Add(time.Duration(i)*step).Local().Format("15:04"))
		}
	}
	for li, l := range lines {
		if len(l.Values) == 0 {
			continue
		}
		var pts strings.Builder
		for i, v := range l.Values {
			x := x0 + float64(i)*(x1-x0)/math.Max(float64(n-1), 1)
			y := y0
			if top > 0 {
				y = y0 - v/top*(y0-y1)
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
		}
		fmt.Fprintf(&b, `<polyline class="series" data-series="%s" fill="none" stroke="%s" stroke-width="2" points="%s"/>`,
			esc(l.Name), esc(l.Colour), strings.TrimSpace(pts.String()))
		// legend
		lx := x0 + float64(li)*150
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="10" height="10" fill="%s"/><text x="%.1f" y="%d" font-size="11" fill="#1f2933">%s</text>`,
			lx, chartH-12, esc(l.Colour), lx+14, chartH-3, esc(l.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built above with every text escaped
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (0 stays 1, so an
// idle chart has a scale).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// count formats a count or rate (k, M for large ones, two decimals for
// small fractions).
func count(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// byteRate formats bytes per second.
func byteRate(v float64) string {
	units := []string{"B/s", "KB/s", "MB/s", "GB/s"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64) + " " + units[i]
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}

// byteCount formats a number of bytes.
func byteCount(v int64) string {
	return strings.TrimSuffix(byteRate(float64(v)), "/s")
}
