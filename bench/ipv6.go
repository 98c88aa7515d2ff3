package main

import (
	"context"
	"fmt"
	"log/slog"
)

// IPv6 rows (opt-in: --only ipv6): the same consumer host reaches the
// same endpoint over its IPv4 ENI and over its IPv6 ENI (the topology is
// dual-stack then: both VPCs get a /56, the vSwitches a /64, the service
// is dualstack), interleaved in each run; the backend is the server
// host's IPv4 address either way, so the rows compare the consumer-side
// family only. Each workload gets three rows in the privlink column: over
// IPv4, over IPv6, and IPv6 ÷ IPv4 of the medians (per run: the ratio of
// that run's two figures).

const pathPrivlinkV6 = "privlink-ipv6" // samples only; shown in the privlink column

// ipv6Workloads are the measured loads: bulk (both directions) and short
// connections.
var ipv6Workloads = []struct {
	id, title, unit string
	higher          bool
	args            []string
}{
	{"v6-bulk-1-up", "bulk 1 stream, client→server", "Gbit/s", true, []string{"--mode", "bulk", "--conc", "1", "--dir", "up"}},
	{"v6-bulk-8-down", "bulk 8 streams, server→client", "Gbit/s", true, []string{"--mode", "bulk", "--conc", "8", "--dir", "down"}},
	{"v6-short-c32", "short conns (connect, 64 B rt, close), 32 workers", "conn/s", true, []string{"--mode", "short", "--conc", "32"}},
	{"v6-short-c32-p99", "short conns, 32 workers, p99", "µs", false, nil}, // from v6-short-c32
}

func ipv6Rows(cfg Config) []rowDef {
	if !cfg.optIn("ipv6") {
		return nil
	}
	var out []rowDef
	for _, w := range ipv6Workloads {
		out = append(out,
			rowDef{w.id + "-v4", "privlink over the IPv4 ENI: " + w.title, w.unit, w.higher, onlyPL, "ipv6"},
			rowDef{w.id + "-v6", "privlink over the IPv6 ENI: " + w.title, w.unit, w.higher, onlyPL, "ipv6"},
			rowDef{w.id + "-ratio", "IPv6 ÷ IPv4: " + w.title, "×", w.higher, onlyPL, "ipv6"})
	}
	return out
}

// runIPv6 measures the IPv6 rows.
func (h *harness) runIPv6(ctx context.Context) {
	if !h.cfg.optIn("ipv6") {
		return
	}
	ep := h.t.Endpoint.Zones[0]
	if !ep.Ipv6Address.IsValid() {
		h.rep.addError("ipv6", fmt.Errorf("the endpoint has no IPv6 ENI"))
		return
	}
	v4 := dpPath{pathPrivlink, ep.IP.String(), h.srv.pids}
	v6 := dpPath{pathPrivlinkV6, ep.Ipv6Address.String(), h.srv.pids}
	for run := 1; run <= h.cfg.Runs && ctx.Err() == nil; run++ {
		for _, w := range ipv6Workloads {
			if w.args == nil {
				continue
			}
			got := map[string]loadResult{}
			for _, p := range []dpPath{v4, v6} {
				res, _, _, err := h.measure(ctx, p, h.cfg.Duration, w.args...)
				what := fmt.Sprintf("%s %s (run %d)", w.id, p.name, run)
				if err == nil && res.Ops == 0 && res.Bytes == 0 {
					err = fmt.Errorf("no traffic: %s", res.FirstErr)
				}
				if err != nil {
					h.rep.addError(what, err)
					continue
				}
				got[p.name] = res
				slog.Info("measured", "workload", w.id, "path", p.name, "run", run, "ops", res.Ops, "bytes", res.Bytes)
			}
			a, okA := got[pathPrivlink]
			b, okB := got[pathPrivlinkV6]
			if !okA || !okB {
				continue
			}
			fig := func(r loadResult) float64 {
				if w.unit == "Gbit/s" {
					return float64(r.Bytes) * 8 / r.Seconds / 1e9
				}
				return rate(r)
			}
			h.addIPv6(w.id, fig(a), fig(b))
			if w.id == "v6-short-c32" {
				h.addIPv6("v6-short-c32-p99", a.P99us, b.P99us)
			}
		}
	}
}

// addIPv6 records one run's IPv4 and IPv6 figures and their ratio.
func (h *harness) addIPv6(id string, v4, v6 float64) {
	h.rep.add(id+"-v4", pathPrivlink, v4)
	h.rep.add(id+"-v6", pathPrivlink, v6)
	if v4 > 0 {
		h.rep.add(id+"-ratio", pathPrivlink, v6/v4)
	}
}
