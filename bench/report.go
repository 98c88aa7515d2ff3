package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Path names: the columns of the table.
const (
	pathDirect   = "direct"
	pathPrivlink = "privlink"
	pathHAProxy  = "haproxy-default"
	pathNginx    = "nginx-default"
	// pathNAT is privlink's kernel NAT forwarding (a service with
	// forwarding nat on the same backends, its own endpoint in zone h).
	pathNAT = "privlink-nat"

	pathHAProxyTuned = "haproxy-tuned" // see tuned.go
	pathNginxTuned   = "nginx-tuned"
)

var (
	allPaths   = []string{pathDirect, pathPrivlink, pathNAT, pathHAProxy, pathNginx, pathHAProxyTuned, pathNginxTuned}
	proxyPaths = []string{pathPrivlink, pathHAProxy, pathNginx, pathHAProxyTuned, pathNginxTuned}
	onlyPL     = []string{pathPrivlink}

	// defaultProxies and tunedProxies are the baselines each verdict
	// column compares privlink with.
	defaultProxies = []string{pathHAProxy, pathNginx}
	tunedProxies   = []string{pathHAProxyTuned, pathNginxTuned}
)

// rowDef is one line of the table.
type rowDef struct {
	id, title, unit string
	higher          bool     // higher is better
	paths           []string // columns that get a value
	workload        string   // the --only name that produces it
}

// rows lists every row in table order. Titles carry the configured counts.
func rows(cfg Config) []rowDef {
	idle := fmt.Sprintf("%d idle conns", cfg.IdleConns)
	out := []rowDef{
		{"bulk-1-up", "bulk 1 stream, client→server", "Gbit/s", true, allPaths, "bulk-1-up"},
		{"bulk-1-down", "bulk 1 stream, server→client", "Gbit/s", true, allPaths, "bulk-1-down"},
		{"bulk-8-up", "bulk 8 streams, client→server", "Gbit/s", true, allPaths, "bulk-8-up"},
		{"bulk-8-down", "bulk 8 streams, server→client", "Gbit/s", true, allPaths, "bulk-8-down"},
		{"cpu-bulk", "proxy CPU per GB, bulk rows", "CPU ms/GB", false, proxyPaths, "bulk"},
		{"short-c1", "short conns c=1 (connect, 64 B req, 64 B reply, close)", "conn/s", true, allPaths, "short-c1"},
		{"short-c1-p99", "short conns c=1, p99", "µs", false, allPaths, "short-c1"},
		{"short-c32", "short conns c=32", "conn/s", true, allPaths, "short-c32"},
		{"short-c32-p99", "short conns c=32, p99", "µs", false, allPaths, "short-c32"},
		{"cpu-short", "proxy CPU per short conn (c=32)", "CPU µs/conn", false, proxyPaths, "short-c32"},
		{"pp-c1", "64 B ping-pong, 1 conn", "rt/s", true, allPaths, "pingpong-c1"},
		{"pp-c1-p50", "64 B ping-pong, 1 conn, p50", "µs", false, allPaths, "pingpong-c1"},
		{"pp-c1-p99", "64 B ping-pong, 1 conn, p99", "µs", false, allPaths, "pingpong-c1"},
		{"pp-c32", "64 B ping-pong, 32 conns", "rt/s", true, allPaths, "pingpong-c32"},
		{"pp-c32-p50", "64 B ping-pong, 32 conns, p50", "µs", false, allPaths, "pingpong-c32"},
		{"pp-c32-p99", "64 B ping-pong, 32 conns, p99", "µs", false, allPaths, "pingpong-c32"},
		{"cpu-pp", "proxy CPU per round trip (32 conns)", "CPU µs/rt", false, proxyPaths, "pingpong-c32"},
		{"idle-rss", "proxy memory, " + idle + " (RSS delta)", "MiB", false, proxyPaths, "idle-conns"},
		{"idle-per-conn", "proxy memory per idle conn", "KiB", false, proxyPaths, "idle-conns"},
		{"idle-fds", "proxy file descriptors per idle conn", "fds", false, proxyPaths, "idle-conns"},
		{"idle-cpu", "proxy CPU while holding " + idle + " (minus without)", "% of a core", false, proxyPaths, "idle-conns"},
		{"dns-qps", fmt.Sprintf("DNS A queries, %d UDP workers", dnsWorkers(cfg)), "qps", true, onlyPL, "dns"},
		{"dns-p99", "DNS query latency p99", "µs", false, onlyPL, "dns"},
		{"dns-cpu", "privlink CPU per DNS query", "CPU µs/q", false, onlyPL, "dns"},
		{"cp-empty-p50", fmt.Sprintf("endpoint create → first traffic, ≤%d existing, p50 of %d", cfg.CPEndpoints, cfg.CPEndpoints), "ms", false, onlyPL, "cp-create"},
		{"cp-empty-p99", fmt.Sprintf("endpoint create → first traffic, ≤%d existing, p99", cfg.CPEndpoints), "ms", false, onlyPL, "cp-create"},
		{"cp-empty-api", fmt.Sprintf("POST /v1/endpoints latency, ≤%d existing, p50", cfg.CPEndpoints), "ms", false, onlyPL, "cp-create"},
		{"cp-fill", fmt.Sprintf("create endpoints up to %d, until all Active", cfg.CPExisting), "s", false, onlyPL, "cp-create|cp-restart"},
		{"cp-loaded-p50", fmt.Sprintf("endpoint create → first traffic, %d existing, p50", cfg.CPExisting), "ms", false, onlyPL, "cp-create"},
		{"cp-loaded-p99", fmt.Sprintf("endpoint create → first traffic, %d existing, p99", cfg.CPExisting), "ms", false, onlyPL, "cp-create"},
		{"cp-loaded-api", fmt.Sprintf("POST /v1/endpoints latency, %d existing, p50", cfg.CPExisting), "ms", false, onlyPL, "cp-create"},
		{"restart-ready", fmt.Sprintf("restart with %d endpoints → /readyz", cfg.CPExisting), "s", false, onlyPL, "cp-restart"},
		{"restart-traffic", "restart → existing endpoint carries traffic", "s", false, onlyPL, "cp-restart"},
	}
	out = append(out, udpRows(cfg)...)
	out = append(out, nodeRows(cfg)...)
	out = append(out, ipv6Rows(cfg)...)
	if cfg.optIn("overload") {
		d := fmt.Sprintf("victim endpoint (connect, 64 B rt, close every 10 ms, %v)", cfg.OverloadDur)
		g := fmt.Sprintf("victim API (GET its endpoint every 20 ms, %v)", cfg.OverloadDur)
		out = append(out,
			rowDef{"ov-tcp-p50-b", d + ", before the flood, p50", "µs", false, onlyPL, "overload"},
			rowDef{"ov-tcp-p50-d", d + ", during the flood, p50", "µs", false, onlyPL, "overload"},
			rowDef{"ov-tcp-p99-b", d + ", before the flood, p99", "µs", false, onlyPL, "overload"},
			rowDef{"ov-tcp-p99-d", d + ", during the flood, p99", "µs", false, onlyPL, "overload"},
			rowDef{"ov-tcp-ratio", "victim endpoint p99, during ÷ before", "×", false, onlyPL, "overload"},
			rowDef{"ov-api-p50-b", g + ", before the flood, p50", "ms", false, onlyPL, "overload"},
			rowDef{"ov-api-p50-d", g + ", during the flood, p50", "ms", false, onlyPL, "overload"},
			rowDef{"ov-api-p99-b", g + ", before the flood, p99", "ms", false, onlyPL, "overload"},
			rowDef{"ov-api-p99-d", g + ", during the flood, p99", "ms", false, onlyPL, "overload"},
			rowDef{"ov-api-ratio", "victim API p99, during ÷ before", "×", false, onlyPL, "overload"},
			rowDef{"ov-flood-conns", "flood: connections churned through its endpoint (connect, 64 B rt, close)", "conn/s", true, onlyPL, "overload"},
			rowDef{"ov-flood-held", "flood: connections held open through its endpoint", "conns", true, onlyPL, "overload"},
			rowDef{"ov-flood-syns", "flood: raw SYNs sent to its endpoint", "SYN/s", true, onlyPL, "overload"},
			rowDef{"ov-flood-api", "flood: API requests (create + delete VPC)", "req/s", true, onlyPL, "overload"},
		)
	}
	if cfg.optIn("soak") {
		s := fmt.Sprintf("soak, %d conns × %v, a 64 B rt per conn every %v", cfg.SoakConns, cfg.SoakDur, cfg.SoakPeriod)
		out = append(out,
			rowDef{"soak-conns", s + ": connections held", "conns", true, onlyPL, "soak"},
			rowDef{"soak-rt", s + ": round trips", "rt/s", true, onlyPL, "soak"},
			rowDef{"soak-p99", s + ": round trip p99", "µs", false, onlyPL, "soak"},
			rowDef{"soak-errors", s + ": failed connections and round trips", "count", false, onlyPL, "soak"},
			rowDef{"soak-rss-start", "soak: privlink server RSS, first sample with all conns open", "MiB", false, onlyPL, "soak"},
			rowDef{"soak-rss-end", "soak: privlink server RSS, last sample", "MiB", false, onlyPL, "soak"},
			rowDef{"soak-rss-slope", "soak: privlink server RSS slope (least squares)", "MiB/min", false, onlyPL, "soak"},
			rowDef{"soak-heap-slope", "soak: privlink Go heap in use slope (least squares)", "MiB/min", false, onlyPL, "soak"},
		)
	}
	if cfg.optIn("scale") {
		out = append(out, scaleRows(cfg)...)
	}
	return out
}

// workloadNames lists the --only names in run order.
func workloadNames() []string {
	return []string{"bulk-1-up", "bulk-1-down", "bulk-8-up", "bulk-8-down", "short-c1", "short-c32",
		"pingpong-c1", "pingpong-c32", "idle-conns", "dns", "overload", "soak", "scale", "cp-create", "cp-restart"}
}

// cpuSplit is where the CPU went during one workload run on one path.
type cpuSplit struct {
	proxy, client, server, machine float64 // cores (CPU seconds per second)
	proxyOK                        bool
}

// Report collects samples and renders the table.
type Report struct {
	cfg     Config
	prefix  string // namespace prefix of the run
	header  []string
	notes   []string
	mu      sync.Mutex
	samples map[string]map[string][]float64 // row -> path -> values
	splits  map[string]map[string]cpuSplit  // workload -> path -> last run
	errors  []string
}

func newReport(cfg Config) *Report {
	return &Report{cfg: cfg, samples: map[string]map[string][]float64{}, splits: map[string]map[string]cpuSplit{}}
}

func (r *Report) add(row, path string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.samples[row] == nil {
		r.samples[row] = map[string][]float64{}
	}
	r.samples[row][path] = append(r.samples[row][path], v)
}

func (r *Report) split(workload, path string, s cpuSplit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.splits[workload] == nil {
		r.splits[workload] = map[string]cpuSplit{}
	}
	r.splits[workload][path] = s
}

func (r *Report) addError(what string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf("%s: %v", what, err))
}

func (r *Report) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Failed reports whether any error was recorded.
func (r *Report) Failed() bool { return len(r.errors) > 0 }

// Errors returns the recorded errors.
func (r *Report) Errors() []string { return slices.Clone(r.errors) }

// Values returns the samples of a row and path.
func (r *Report) Values(row, path string) []float64 { return r.samples[row][path] }

type stat struct{ med, min, max float64 }

func summarize(v []float64) (stat, bool) {
	if len(v) == 0 {
		return stat{}, false
	}
	s := slices.Sorted(slices.Values(v))
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med, s[0], s[len(s)-1]}, true
}

// num formats with three significant digits (no exponent).
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func cell(st stat, n int) string {
	if n == 1 || st.min == st.max {
		return num(st.med)
	}
	return fmt.Sprintf("%s (%s..%s)", num(st.med), num(st.min), num(st.max))
}

// gain is how much better privlink is than base, as a fraction: +0.1 means
// 10% better (more throughput, or less latency/CPU/memory).
func gain(pl, base float64, higher bool) float64 {
	if higher {
		return pl/base - 1
	}
	return 1 - pl/base
}

// Write renders the report as markdown.
func (r *Report) Write(w io.Writer) {
	var b bytes.Buffer
	b.WriteString("# privlink benchmark\n\n")
	for _, h := range r.header {
		fmt.Fprintf(&b, "- %s\n", h)
	}
	if !r.cfg.nodesOnly() {
		r.writeMain(&b)
	}
	r.writeNodes(&b)
	r.writeTail(&b)
	_, _ = w.Write(b.Bytes())
}

// writeMain renders the single-node table.
func (r *Report) writeMain(b *bytes.Buffer) {
	b.WriteString("\nEach cell: median (min..max) over the runs. Ratios are privlink ÷ baseline of the medians; ")
	b.WriteString("for Gbit/s, conn/s, rt/s and qps higher is better, for µs, ms, s, CPU and memory lower is better. ")
	b.WriteString("\"vs tuned\" and \"vs default\" say whether privlink beats both HAProxy and nginx in their tuned and in their default configurations (+x% = better by x%); nat/direct is the kernel NAT path against the direct path.\n\n")
	b.WriteString("| workload | unit | " + strings.Join(allPaths, " | ") + " | pl/direct | pl/haproxy-tuned | pl/nginx-tuned | nat/direct | vs tuned | vs default |\n")
	b.WriteString("|---|---|" + strings.Repeat("---|", len(allPaths)+6) + "\n")
	for _, d := range rows(r.cfg) {
		if !r.rowSelected(d) || d.workload == workloadNodes {
			continue
		}
		med := map[string]float64{}
		cells := make([]string, 0, len(allPaths))
		for _, p := range allPaths {
			st, ok := summarize(r.samples[d.id][p])
			switch {
			case ok:
				med[p] = st.med
				cells = append(cells, cell(st, len(r.samples[d.id][p])))
			case slices.Contains(d.paths, p) && r.cfg.pathSelected(p):
				cells = append(cells, "**missing**")
			default:
				cells = append(cells, "—")
			}
		}
		ratios := make([]string, 0, 3)
		pl, hasPL := med[pathPrivlink]
		for _, p := range []string{pathDirect, pathHAProxyTuned, pathNginxTuned} {
			if base, ok := med[p]; ok && hasPL && base != 0 {
				ratios = append(ratios, fmt.Sprintf("%.2f×", pl/base))
			} else {
				ratios = append(ratios, "—")
			}
		}
		if nat, base := med[pathNAT], med[pathDirect]; nat != 0 && base != 0 {
			ratios = append(ratios, fmt.Sprintf("%.2f×", nat/base))
		} else {
			ratios = append(ratios, "—")
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", d.title, d.unit, strings.Join(cells, " | "), strings.Join(ratios, " | "), verdict(d, med, tunedProxies), verdict(d, med, defaultProxies))
	}
	if len(r.splits) > 0 {
		b.WriteString("\nCPU split of the last run (cores busy on average; machine = all CPUs from /proc/stat, ")
		b.WriteString("the rest of it is mostly kernel softirq work not charged to a process):\n\n")
		b.WriteString("| workload | path | proxy | client | server | machine |\n|---|---|---|---|---|---|\n")
		for _, wl := range workloadNames() {
			for _, p := range allPaths {
				s, ok := r.splits[wl][p]
				if !ok {
					continue
				}
				px := "—"
				if s.proxyOK {
					px = fmt.Sprintf("%.2f", s.proxy)
				}
				fmt.Fprintf(b, "| %s | %s | %s | %.2f | %.2f | %.2f |\n", wl, p, px, s.client, s.server, s.machine)
			}
		}
	}
}

// writeTail renders the notes and the errors.
func (r *Report) writeTail(b *bytes.Buffer) {
	if len(r.notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range r.notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
	}
	if len(r.errors) > 0 {
		b.WriteString("\nERRORS:\n\n")
		for _, e := range r.errors {
			fmt.Fprintf(b, "- %s\n", e)
		}
	} else {
		b.WriteString("\nNo errors.\n")
	}
}

// WriteFile writes the markdown report to path.
func (r *Report) WriteFile(path string) error {
	var b bytes.Buffer
	r.Write(&b)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (r *Report) rowSelected(d rowDef) bool {
	for _, w := range strings.Split(d.workload, "|") {
		if w == "bulk" {
			for _, b := range []string{"bulk-1-up", "bulk-1-down", "bulk-8-up", "bulk-8-down"} {
				if r.cfg.selected(b) {
					return true
				}
			}
		} else if r.cfg.selected(w) {
			return true
		}
	}
	return false
}

// verdict compares privlink with the baselines in against. Differences
// under 0.5% (printed as ±0%) are ties.
func verdict(d rowDef, med map[string]float64, against []string) string {
	pl, ok := med[pathPrivlink]
	if !ok {
		return "—"
	}
	var lose, win, tie []string
	for _, p := range against {
		base, ok := med[p]
		if !ok {
			continue
		}
		if base == 0 {
			switch {
			case math.Abs(pl) < 1e-9: // a difference of CPU readings: 0 up to rounding
				tie = append(tie, p+" 0 vs 0")
			case !d.higher:
				lose = append(lose, fmt.Sprintf("%s 0 vs %s", p, num(pl)))
			}
			continue
		}
		g := gain(pl, base, d.higher)
		s := fmt.Sprintf("%s %+.0f%%", p, 100*g)
		switch {
		case math.Abs(g) < 0.005:
			tie = append(tie, s)
		case g < 0:
			lose = append(lose, s)
		default:
			win = append(win, s)
		}
	}
	all := strings.Join(append(append(lose, win...), tie...), ", ")
	switch {
	case len(lose) > 0:
		return "**loses** (" + all + ")"
	case len(win) > 0:
		return "wins (" + all + ")"
	case len(tie) > 0:
		return "ties (" + all + ")"
	}
	return "—"
}

// machineHeader describes the machine and the versions.
func machineHeader() []string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		mem = strings.Join(strings.Fields(line)[1:], " ")
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	b0, t0 := machineBusy()
	time.Sleep(time.Second)
	b1, t1 := machineBusy()
	busy := 0.0
	if t1 > t0 {
		busy = float64(b1-b0) / float64(t1-t0) * float64(nproc())
	}
	return []string{
		fmt.Sprintf("machine: nproc %d, CPU %s, kernel %s, memory %s", nproc(), cpu, kernel, mem),
		fmt.Sprintf("date: %s; other load before the run: %.2f cores busy (1 s sample), loadavg %s",
			time.Now().UTC().Format(time.RFC3339), busy, load),
	}
}
