package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// dpPath is one way from the client host to the servers.
type dpPath struct {
	name   string
	target string       // IP the client connects to (ports: see topology.go)
	pids   func() []int // the proxy's processes; nil for the direct path
}

// dpWorkload is one timed data-plane load, run on every path.
type dpWorkload struct {
	name string
	args []string // load child flags besides --target and --dur
	// record turns a result into table samples; cpu is the proxy's CPU
	// seconds during the run (valid when the path has a proxy).
	record func(rep *Report, path string, res loadResult, cpu float64, proxy bool)
}

func rate(res loadResult) float64 { return float64(res.Ops) / res.Seconds }

func dpWorkloads() []dpWorkload {
	bulk := func(name string, streams int, dir string) dpWorkload {
		return dpWorkload{name, []string{"--mode", "bulk", "--conc", strconv.Itoa(streams), "--dir", dir},
			func(rep *Report, path string, res loadResult, _ float64, _ bool) {
				rep.add(name, path, float64(res.Bytes)*8/res.Seconds/1e9)
			}}
	}
	short := func(name, row string, conc int) dpWorkload {
		return dpWorkload{name, []string{"--mode", "short", "--conc", strconv.Itoa(conc)},
			func(rep *Report, path string, res loadResult, cpu float64, proxy bool) {
				rep.add(row, path, rate(res))
				rep.add(row+"-p99", path, res.P99us)
				if proxy && conc > 1 && res.Ops > 0 {
					rep.add("cpu-short", path, cpu/float64(res.Ops)*1e6)
				}
			}}
	}
	pingpong := func(name, row string, conc int) dpWorkload {
		return dpWorkload{name, []string{"--mode", "pingpong", "--conc", strconv.Itoa(conc)},
			func(rep *Report, path string, res loadResult, cpu float64, proxy bool) {
				rep.add(row, path, rate(res))
				rep.add(row+"-p50", path, res.P50us)
				rep.add(row+"-p99", path, res.P99us)
				if proxy && conc > 1 && res.Ops > 0 {
					rep.add("cpu-pp", path, cpu/float64(res.Ops)*1e6)
				}
			}}
	}
	return []dpWorkload{
		bulk("bulk-1-up", 1, "up"), bulk("bulk-1-down", 1, "down"),
		bulk("bulk-8-up", 8, "up"), bulk("bulk-8-down", 8, "down"),
		short("short-c1", "short-c1", 1), short("short-c32", "short-c32", 32),
		pingpong("pingpong-c1", "pp-c1", 1), pingpong("pingpong-c32", "pp-c32", 32),
	}
}

// measure runs one load child in the client host against path p and reads
// the CPU used meanwhile by the proxy, the client, the servers and the
// whole machine.
func (h *harness) measure(ctx context.Context, p dpPath, dur time.Duration, args ...string) (loadResult, float64, cpuSplit, error) {
	var pids []int
	if p.pids != nil {
		pids = p.pids()
	}
	args = append(args, "--target", p.target, "--dur", dur.String())
	px0, err := cpuSeconds(pids)
	if err != nil {
		return loadResult{}, 0, cpuSplit{}, err
	}
	sv0, _ := cpuSeconds([]int{h.serve.pid()})
	busy0, total0 := machineBusy()
	t0 := time.Now()
	out, err := runChild(ctx, h.self, h.ns(h.t.client.HostID), "load", dur+2*time.Minute, args...)
	wall := time.Since(t0).Seconds()
	if err != nil {
		return loadResult{}, 0, cpuSplit{}, err
	}
	px1, err := cpuSeconds(pids)
	if err != nil {
		return loadResult{}, 0, cpuSplit{}, err
	}
	sv1, _ := cpuSeconds([]int{h.serve.pid()})
	busy1, total1 := machineBusy()
	var res loadResult
	if err := json.Unmarshal(out, &res); err != nil {
		return res, 0, cpuSplit{}, fmt.Errorf("load result %q: %w", strings.TrimSpace(string(out)), err)
	}
	cpu := px1 - px0
	sp := cpuSplit{proxy: cpu / wall, client: res.CPUSeconds / wall, server: (sv1 - sv0) / wall, proxyOK: pids != nil}
	if total1 > total0 {
		sp.machine = float64(busy1-busy0) / float64(total1-total0) * float64(nproc())
	}
	return res, cpu, sp, nil
}

// runDataPlane runs the selected timed workloads on every path, run after
// run, then the idle-connection workload. The paths' order rotates by one
// each run, so that over as many runs as there are paths each takes every
// place once: none always comes first after another workload, or last.
func (h *harness) runDataPlane(ctx context.Context) {
	wls := dpWorkloads()
	for run := 1; run <= h.cfg.Runs; run++ {
		bulkCPU, bulkGB := map[string]float64{}, map[string]float64{}
		for _, w := range wls {
			if !h.cfg.selected(w.name) {
				continue
			}
			for _, p := range rotated(h.paths, run-1) {
				if ctx.Err() != nil {
					return
				}
				endProfile := h.startProfile(ctx, w.name, p.name, run, h.cfg.Duration)
				res, cpu, sp, err := h.measure(ctx, p, h.cfg.Duration, w.args...)
				endProfile()
				what := fmt.Sprintf("%s via %s (run %d)", w.name, p.name, run)
				if err != nil {
					h.rep.addError(what, err)
					continue
				}
				if res.Errors > 0 {
					h.rep.addError(what, fmt.Errorf("%d failed operations, first: %s", res.Errors, res.FirstErr))
				}
				w.record(h.rep, p.name, res, cpu, p.pids != nil)
				h.rep.split(w.name, p.name, sp)
				if strings.HasPrefix(w.name, "bulk") {
					bulkCPU[p.name] += cpu
					bulkGB[p.name] += float64(res.Bytes) / 1e9
				}
				slog.Info("measured", "workload", w.name, "path", p.name, "run", run,
					"ops", res.Ops, "bytes", res.Bytes, "seconds", fmt.Sprintf("%.2f", res.Seconds),
					"p99us", res.P99us, "proxyCPU", fmt.Sprintf("%.2f", cpu))
			}
		}
		for _, p := range proxyPaths {
			if bulkGB[p] > 0 {
				h.rep.add("cpu-bulk", p, bulkCPU[p]/bulkGB[p]*1e3)
			}
		}
		if h.cfg.selected("idle-conns") {
			h.runIdle(ctx, run)
		}
	}
}

// rotated returns paths rotated left by k.
func rotated(paths []dpPath, k int) []dpPath {
	if len(paths) == 0 {
		return nil
	}
	k %= len(paths)
	return append(slices.Clone(paths[k:]), paths[:k]...)
}

// runIdle opens cfg.IdleConns connections through each proxy, holds them,
// and reads the proxy's RSS (against its RSS before the first such run, so
// memory a runtime keeps after run 1 is not hidden in later runs) and CPU.
func (h *harness) runIdle(ctx context.Context, run int) {
	settle, hold := time.Second, 5*time.Second // CPU times tick every 10 ms: 0.2% of a core over 5 s
	if h.cfg.Quick {
		settle, hold = 200*time.Millisecond, 300*time.Millisecond
	}
	if h.idleBase == nil {
		h.idleBase, h.fdBase = map[string]int64{}, map[string]int{}
	}
	for _, p := range h.paths {
		if p.pids == nil || ctx.Err() != nil {
			continue
		}
		what := fmt.Sprintf("idle-conns via %s (run %d)", p.name, run)
		if _, ok := h.idleBase[p.name]; !ok {
			base, err := rssBytes(p.pids())
			if err != nil {
				h.rep.addError(what, err)
				continue
			}
			h.idleBase[p.name] = base
		}
		h.fdBase[p.name] = countFDs(p.pids())
		before, err := cpuRate(p.pids, hold)
		if err != nil {
			h.rep.addError(what, err)
			continue
		}
		if err := h.idleOnce(p, run, settle, hold, before); err != nil {
			h.rep.addError(what, err)
		}
		time.Sleep(settle) // let the proxy finish closing
	}
}

// cpuRate is the CPU the processes use over d, in cores.
func cpuRate(pids func() []int, d time.Duration) (float64, error) {
	c0, err := cpuSeconds(pids())
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	c1, err := cpuSeconds(pids())
	return (c1 - c0) / d.Seconds(), err
}

// idleOnce holds the idle connections through p; before is the proxy's CPU
// rate without them, subtracted so that the row shows what holding them costs.
func (h *harness) idleOnce(p dpPath, run int, settle, hold time.Duration, before float64) error {
	c, err := startInteractive(h.self, h.ns(h.t.client.HostID), "load",
		"--mode", "idle", "--target", p.target, "--count", strconv.Itoa(h.cfg.IdleConns))
	if err != nil {
		return err
	}
	track(c.proc)
	defer c.close()
	line, err := c.readLine(3 * time.Minute)
	if err != nil {
		return err
	}
	var open, failed int
	if _, err := fmt.Sscanf(line, "READY %d %d", &open, &failed); err != nil {
		return fmt.Errorf("idle child: %q: %w", line, err)
	}
	time.Sleep(settle)
	pids := p.pids()
	cpu0, err := cpuSeconds(pids)
	if err != nil {
		return err
	}
	time.Sleep(hold)
	cpu1, err := cpuSeconds(pids)
	if err != nil {
		return err
	}
	rss, err := rssBytes(pids)
	if err != nil {
		return err
	}
	fds := countFDs(pids) - h.fdBase[p.name]
	if _, err := c.call("go", time.Minute); err != nil {
		return err
	}
	if open < h.cfg.IdleConns {
		return fmt.Errorf("only %d of %d connections opened (%d failed)", open, h.cfg.IdleConns, failed)
	}
	delta := float64(rss - h.idleBase[p.name])
	h.rep.add("idle-rss", p.name, delta/(1<<20))
	h.rep.add("idle-per-conn", p.name, delta/float64(open)/1024)
	h.rep.add("idle-cpu", p.name, max(0, (cpu1-cpu0)/hold.Seconds()-before)*100)
	h.rep.add("idle-fds", p.name, float64(fds)/float64(open))
	slog.Info("measured", "workload", "idle-conns", "path", p.name, "run", run, "conns", open,
		"rssDeltaMiB", fmt.Sprintf("%.1f", delta/(1<<20)), "cpu", fmt.Sprintf("%.3f", cpu1-cpu0))
	return nil
}

func dnsWorkers(cfg Config) int {
	if cfg.Quick {
		return 4
	}
	return 16
}

// runDNS queries the consumer VPC's resolver for the endpoint's domain.
func (h *harness) runDNS(ctx context.Context) {
	if !h.cfg.selected("dns") {
		return
	}
	p := dpPath{name: pathPrivlink, target: "169.254.169.253:53", pids: h.srv.pids}
	for run := 1; run <= h.cfg.Runs && ctx.Err() == nil; run++ {
		res, cpu, sp, err := h.measure(ctx, p, h.cfg.Duration, "--mode", "dns", "--name", h.t.Endpoint.EndpointDomain,
			"--conc", strconv.Itoa(dnsWorkers(h.cfg)))
		what := fmt.Sprintf("dns (run %d)", run)
		if err != nil {
			h.rep.addError(what, err)
			continue
		}
		if res.Errors > 0 {
			h.rep.addError(what, fmt.Errorf("%d failed queries, first: %s", res.Errors, res.FirstErr))
		}
		h.rep.add("dns-qps", pathPrivlink, rate(res))
		h.rep.add("dns-p99", pathPrivlink, res.P99us)
		if res.Ops > 0 {
			h.rep.add("dns-cpu", pathPrivlink, cpu/float64(res.Ops)*1e6)
		}
		h.rep.split("dns", pathPrivlink, sp)
		slog.Info("measured", "workload", "dns", "run", run, "queries", res.Ops, "p99us", res.P99us)
	}
}
