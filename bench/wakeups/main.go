// Command wakeups summarises a system-wide scheduler trace: per command,
// how often its threads were woken and by whom, how long they then waited
// to run (split by whether the CPU they were woken onto was busy or idle
// at that moment), and how idle each CPU was. It reads what `perf script`
// prints for a capture of the two scheduler tracepoints:
//
//	perf record -a -e sched:sched_switch,sched:sched_wakeup -o sched.data -- sleep 1
//	perf script -i sched.data -F comm,tid,cpu,time,event,trace | go run ./bench/wakeups -per 2164
//
// -per divides the counts by a number of operations (the connections the
// load made during the capture, say) to print them per operation. See
// docs/benchmarks.md (Session 13) for what it showed about the proxy at one
// connection at a time.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// event is one parsed tracepoint line. For a wake-up, pid, comm and cpu
// name the task woken and the CPU it was queued on; for a switch, pid and
// comm the task that now runs on the line's CPU (0: the CPU went idle).
type event struct {
	t      time.Duration // trace clock
	onCPU  int           // the CPU the line was recorded on
	actor  string        // the command running when it was recorded (the waker)
	wakeup bool
	pid    int
	comm   string
	cpu    int
}

var (
	lineRE   = regexp.MustCompile(`^\s*(.*?)\s+\d+\s+\[(\d+)\]\s+(\d+)\.(\d+):\s+sched:(sched_wakeup|sched_switch):\s*(.*)$`)
	wakeRE   = regexp.MustCompile(`^comm=(.*) pid=(\d+) prio=-?\d+ target_cpu=(\d+)$`)
	switchRE = regexp.MustCompile(`==> next_comm=(.*) next_pid=(\d+) next_prio=-?\d+$`)
)

// parseLine parses one line of `perf script -F comm,tid,cpu,time,event,trace`;
// ok is false for any other line.
func parseLine(s string) (ev event, ok bool) {
	m := lineRE.FindStringSubmatch(s)
	if m == nil {
		return event{}, false
	}
	cpu, err1 := strconv.Atoi(m[2])
	sec, err2 := strconv.ParseInt(m[3], 10, 64)
	ns, err3 := strconv.Atoi((m[4] + "000000000")[:9]) // the fraction, in nanoseconds
	if err1 != nil || err2 != nil || err3 != nil || sec > int64(time.Duration(1<<62)/time.Second) {
		return event{}, false
	}
	ev = event{
		t:     time.Duration(sec)*time.Second + time.Duration(ns),
		onCPU: cpu, actor: base(m[1]), wakeup: m[5] == "sched_wakeup",
	}
	var pid, target string
	if ev.wakeup {
		w := wakeRE.FindStringSubmatch(m[6])
		if w == nil {
			return event{}, false
		}
		ev.comm, pid, target = w[1], w[2], w[3]
	} else {
		w := switchRE.FindStringSubmatch(m[6])
		if w == nil {
			return event{}, false
		}
		ev.comm, pid, target = w[1], w[2], m[2]
	}
	var err4, err5 error
	ev.pid, err4 = strconv.Atoi(pid)
	ev.cpu, err5 = strconv.Atoi(target)
	if err4 != nil || err5 != nil {
		return event{}, false
	}
	ev.comm = base(ev.comm)
	return ev, true
}

// base is a command's name without a per-CPU or per-pool suffix
// ("swapper/1", "ksoftirqd/0", "kworker/u4:2" are one command each).
func base(comm string) string {
	if i := strings.IndexByte(comm, '/'); i > 0 {
		return comm[:i]
	}
	return comm
}

// stats are one command's wake-ups.
type stats struct {
	wakeups int
	wait    [2][]time.Duration // wake-up to running; [0] onto a busy CPU, [1] onto an idle one
	wakers  map[string]int
}

// summary accumulates a trace.
type summary struct {
	byComm    map[string]*stats
	pending   map[int]pendingWake // woken, not yet running, by pid
	running   map[int]int         // pid running on each CPU seen switching
	idleSince map[int]time.Duration
	idle      map[int]time.Duration
	first     time.Duration
	last      time.Duration
	n         int
}

type pendingWake struct {
	at   time.Duration
	comm string
	idle bool
}

func newSummary() *summary {
	return &summary{
		byComm: map[string]*stats{}, pending: map[int]pendingWake{},
		running: map[int]int{}, idleSince: map[int]time.Duration{}, idle: map[int]time.Duration{},
	}
}

func (s *summary) add(ev event) {
	if s.n == 0 {
		s.first = ev.t
	}
	s.n++
	s.last = max(s.last, ev.t)
	if ev.wakeup {
		st := s.byComm[ev.comm]
		if st == nil {
			st = &stats{wakers: map[string]int{}}
			s.byComm[ev.comm] = st
		}
		st.wakeups++
		st.wakers[ev.actor]++
		cur, seen := s.running[ev.cpu]
		if seen && ev.pid != 0 {
			s.pending[ev.pid] = pendingWake{at: ev.t, comm: ev.comm, idle: cur == 0}
		}
		return
	}
	if ev.pid == 0 {
		s.idleSince[ev.onCPU] = ev.t
	} else if since, ok := s.idleSince[ev.onCPU]; ok {
		s.idle[ev.onCPU] += ev.t - since
		delete(s.idleSince, ev.onCPU)
	}
	s.running[ev.onCPU] = ev.pid
	if w, ok := s.pending[ev.pid]; ok {
		delete(s.pending, ev.pid)
		if st := s.byComm[w.comm]; st != nil && ev.t >= w.at {
			i := 0
			if w.idle {
				i = 1
			}
			st.wait[i] = append(st.wait[i], ev.t-w.at)
		}
	}
}

// report writes the commands woken most often (top), per operation if
// per > 0, and each CPU's idle share.
func (s *summary) report(w io.Writer, top int, per float64) {
	span := s.last - s.first
	if s.n == 0 || span <= 0 {
		fmt.Fprintln(w, "no scheduler events (capture sched:sched_switch and sched:sched_wakeup with perf record -a)")
		return
	}
	idle := maps.Clone(s.idle)
	for cpu, since := range s.idleSince { // idle until the end
		idle[cpu] += s.last - since
	}
	unit := "per second"
	div := span.Seconds()
	if per > 0 {
		unit, div = "per operation", per
	}
	fmt.Fprintf(w, "trace: %v, %d events; counts %s\n\n", span.Round(time.Millisecond), s.n, unit)
	fmt.Fprintln(w, "| command | wake-ups | onto a busy CPU | wait p50 / mean (busy) | onto an idle CPU | wait p50 / mean (idle) | woken by |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	comms := make([]string, 0, len(s.byComm))
	for c := range s.byComm {
		comms = append(comms, c)
	}
	slices.SortFunc(comms, func(a, b string) int {
		return s.byComm[b].wakeups - s.byComm[a].wakeups
	})
	for _, c := range comms[:min(top, len(comms))] {
		st := s.byComm[c]
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %s | %.2f | %s | %s |\n", c, float64(st.wakeups)/div,
			float64(len(st.wait[0]))/div, waits(st.wait[0]), float64(len(st.wait[1]))/div, waits(st.wait[1]), wakers(st.wakers, div))
	}
	cpus := make([]int, 0, len(s.running))
	for cpu := range s.running {
		cpus = append(cpus, cpu)
	}
	slices.Sort(cpus)
	fmt.Fprint(w, "\nidle share:")
	for _, cpu := range cpus {
		fmt.Fprintf(w, " cpu%d %.1f%%", cpu, 100*idle[cpu].Seconds()/span.Seconds())
	}
	fmt.Fprintln(w)
}

func waits(d []time.Duration) string {
	if len(d) == 0 {
		return "—"
	}
	d = slices.Clone(d)
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	us := func(x time.Duration) float64 { return float64(x) / float64(time.Microsecond) }
	return fmt.Sprintf("%.0f / %.0f µs", us(d[len(d)/2]), us(sum/time.Duration(len(d))))
}

func wakers(m map[string]int, div float64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return m[b] - m[a] })
	var parts []string
	for _, n := range names[:min(3, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, float64(m[n])/div))
	}
	return strings.Join(parts, ", ")
}

func main() {
	top := flag.Int("top", 8, "commands to show, most woken first")
	per := flag.Float64("per", 0, "divide counts by this many operations (0: per second of trace)")
	flag.Parse()
	if *top < 1 || *per < 0 {
		fmt.Fprintln(os.Stderr, "wakeups: -top must be at least 1 and -per not negative")
		os.Exit(2)
	}
	s := newSummary()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if ev, ok := parseLine(sc.Text()); ok {
			s.add(ev)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "wakeups: reading the trace:", err)
		os.Exit(1)
	}
	s.report(os.Stdout, *top, *per)
}
