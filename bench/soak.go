package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Soak: SoakConns concurrent connections through the data-plane endpoint
// for SoakDur, each doing one 64 B round trip per SoakPeriod, while the
// privlink server's RSS and Go heap are sampled. Every round trip must
// succeed; the memory slope is reported (least squares over the samples
// taken once every connection is open), never asserted.

func (h *harness) runSoak(ctx context.Context) {
	if !h.cfg.optIn("soak") || ctx.Err() != nil {
		return
	}
	if err := h.soak(ctx); err != nil {
		h.rep.addError("soak", err)
	}
}

// memSample is the server's memory at one time.
type memSample struct {
	at        time.Duration // since the connections were open
	rss, heap float64       // MiB; heap < 0: unknown
}

func (h *harness) soak(ctx context.Context) error {
	n, d, period := h.cfg.SoakConns, h.cfg.SoakDur, h.cfg.SoakPeriod
	every := 10 * time.Second
	if d < 2*time.Minute {
		every = time.Second
	}
	fds0 := countFDs(h.srv.pids())
	c, err := startInteractive(h.self, h.ns(h.t.client.HostID), "load", "--mode", "soak", "--target", h.t.eni,
		"--count", strconv.Itoa(n), "--period", period.String(), "--dur", d.String())
	if err != nil {
		return err
	}
	track(c.proc)
	defer c.close()
	line, err := c.readLine(5 * time.Minute)
	if err != nil {
		return err
	}
	var open, failed int
	if _, err := fmt.Sscanf(line, "READY %d %d", &open, &failed); err != nil {
		return fmt.Errorf("soak child: %q: %w", line, err)
	}
	if open < n {
		h.rep.addError("soak", fmt.Errorf("only %d of %d connections opened (%d failed)", open, n, failed))
	}
	// Descriptors are counted once every connection has carried a round
	// trip (a connect completes in the kernel before privlink accepts it).
	fds := -1
	start := time.Now()
	result := make(chan string, 1)
	readErr := make(chan error, 1)
	go func() {
		l, err := c.readLine(d + 2*time.Minute)
		if err != nil {
			readErr <- err
			return
		}
		result <- l
	}()
	var samples []memSample
	tick := time.NewTicker(every)
	defer tick.Stop()
	sample := func() {
		rss, err := rssBytes(h.srv.pids())
		if err != nil {
			return
		}
		samples = append(samples, memSample{at: time.Since(start), rss: float64(rss) / (1 << 20), heap: h.heapMiB()})
		if fds < 0 && time.Since(start) > period+time.Second {
			fds = countFDs(h.srv.pids()) - fds0
		}
	}
	sample()
	var out string
wait:
	for {
		select {
		case out = <-result:
			break wait
		case err := <-readErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			sample()
		}
	}
	var res loadResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return fmt.Errorf("soak result %q: %w", out, err)
	}
	if res.Errors > 0 {
		h.rep.addError("soak", fmt.Errorf("%d failed round trips or connections, first: %s", res.Errors, res.FirstErr))
	}
	r := h.rep
	r.add("soak-conns", pathPrivlink, float64(open))
	r.add("soak-rt", pathPrivlink, rate(res))
	r.add("soak-p99", pathPrivlink, res.P99us)
	r.add("soak-errors", pathPrivlink, float64(res.Errors+int64(failed)))
	rssSlope, heapSlope := slope(samples, func(s memSample) float64 { return s.rss }), slope(samples, func(s memSample) float64 { return s.heap })
	if len(samples) > 0 {
		r.add("soak-rss-start", pathPrivlink, samples[0].rss)
		r.add("soak-rss-end", pathPrivlink, samples[len(samples)-1].rss)
		r.add("soak-rss-slope", pathPrivlink, rssSlope)
		if samples[0].heap >= 0 {
			r.add("soak-heap-slope", pathPrivlink, heapSlope)
		}
	}
	if half := samples[len(samples)/2:]; len(samples) > 0 {
		r.note("soak: server RSS %.1f..%.1f MiB over the samples; over the second half alone the RSS slope is %.3f MiB/min and the heap slope %.3f MiB/min",
			minOf(samples, func(s memSample) float64 { return s.rss }), maxOf(samples, func(s memSample) float64 { return s.rss }),
			slope(half, func(s memSample) float64 { return s.rss }), slope(half, func(s memSample) float64 { return s.heap }))
	}
	r.note("soak: %d connections held for %v, one 64 B round trip per connection every %v; privlink held %d more descriptors with them open "+
		"(%.2f per connection); memory sampled %d times (every %v) from /proc/PID/status (VmRSS, the whole server process with etcd) and /metrics (go_memstats_heap_inuse_bytes)",
		open, d, period, fds, float64(fds)/float64(max(open, 1)), len(samples), every)
	slog.Info("measured", "workload", "soak", "conns", open, "roundTrips", res.Ops, "errors", res.Errors,
		"rssSlopeMiBPerMin", fmt.Sprintf("%.3f", rssSlope), "heapSlopeMiBPerMin", fmt.Sprintf("%.3f", heapSlope))
	return nil
}

// slope is the least-squares slope of v over the samples, in MiB per minute.
func slope(samples []memSample, v func(memSample) float64) float64 {
	if len(samples) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, s := range samples {
		x := s.at.Minutes()
		sx, sy, sxx, sxy = sx+x, sy+v(s), sxx+x*x, sxy+x*v(s)
	}
	k := float64(len(samples))
	den := k*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (k*sxy - sx*sy) / den
}

func minOf(s []memSample, v func(memSample) float64) float64 {
	m := v(s[0])
	for _, x := range s {
		m = min(m, v(x))
	}
	return m
}

func maxOf(s []memSample, v func(memSample) float64) float64 {
	m := v(s[0])
	for _, x := range s {
		m = max(m, v(x))
	}
	return m
}

// heapMiB reads the server's Go heap in use from /metrics (with
// --scale-agent-process, the server's and its agent's); -1 if it cannot.
func (h *harness) heapMiB() float64 {
	v := h.metricValue("go_memstats_heap_inuse_bytes")
	if math.IsNaN(v) {
		return -1
	}
	return v / (1 << 20)
}

// metricValue reads an unlabelled metric of the server's /metrics, summed
// with its zone agent's under --scale-agent-process; NaN (no cell) if it
// cannot.
func (h *harness) metricValue(name string) float64 {
	urls := []string{"http://" + h.srv.metrics + "/metrics"}
	if a := h.srv.agent; a != nil && a.running() {
		urls = append(urls, "http://"+a.metrics+"/metrics")
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	sum := 0.0
	for _, u := range urls {
		v, err := readMetric(hc, u, name)
		if err != nil {
			return math.NaN()
		}
		sum += v
	}
	return sum
}

func readMetric(hc *http.Client, url, name string) (float64, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", url, name)
}
