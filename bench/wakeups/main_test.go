package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		ok   bool
		want event
	}{
		{"wakeup", "       bench-bin 15015 [000] 45506.604762: sched:sched_wakeup: comm=privlink-base pid=14995 prio=120 target_cpu=001", true,
			event{t: 45506*time.Second + 604762*time.Microsecond, onCPU: 0, actor: "bench-bin", wakeup: true, pid: 14995, comm: "privlink-base", cpu: 1}},
		{"switch to a task", "       bench-bin 15015 [001] 45506.604723: sched:sched_switch: prev_comm=bench-bin prev_pid=15015 prev_prio=120 prev_state=S ==> next_comm=nginx next_pid=14995 next_prio=120", true,
			event{t: 45506*time.Second + 604723*time.Microsecond, onCPU: 1, actor: "bench-bin", pid: 14995, comm: "nginx", cpu: 1}},
		{"switch to idle, per-CPU names joined", "     swapper/1     0 [001] 1.000001: sched:sched_switch: prev_comm=ksoftirqd/1 prev_pid=22 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120", true,
			event{t: time.Second + time.Microsecond, onCPU: 1, actor: "swapper", pid: 0, comm: "swapper", cpu: 1}},
		{"command with a space", "  nginx: worker 9 [000] 2.5: sched:sched_wakeup: comm=my task pid=9 prio=-51 target_cpu=000", true,
			event{t: 2500 * time.Millisecond, actor: "nginx: worker", wakeup: true, pid: 9, comm: "my task"}},
		{"other event", "  perf 1 [000] 1.0: raw_syscalls:sys_enter: NR 0", false, event{}},
		{"truncated", "  perf 1 [000] 1.0: sched:sched_wakeup: comm=x pid=", false, event{}},
		{"huge time", "  perf 1 [000] 99999999999999999999.0: sched:sched_wakeup: comm=x pid=1 prio=1 target_cpu=0", false, event{}},
		{"empty", "", false, event{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseLine(tt.line)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("parseLine = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// A task woken onto a busy CPU waits until the running one switches away;
// one woken onto an idle CPU runs at once; idle time is counted per CPU.
func TestSummary(t *testing.T) {
	trace := `
 swapper/0     0 [000] 10.000000: sched:sched_switch: prev_comm=x prev_pid=5 prev_prio=120 prev_state=S ==> next_comm=client next_pid=100 next_prio=120
 swapper/1     0 [001] 10.000000: sched:sched_switch: prev_comm=x prev_pid=6 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
 client      100 [000] 10.000100: sched:sched_wakeup: comm=proxy pid=200 prio=120 target_cpu=000
 client      100 [000] 10.000130: sched:sched_switch: prev_comm=client prev_pid=100 prev_prio=120 prev_state=S ==> next_comm=proxy next_pid=200 next_prio=120
 proxy       200 [000] 10.000200: sched:sched_wakeup: comm=server pid=300 prio=120 target_cpu=001
 swapper/1     0 [001] 10.000210: sched:sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=server next_pid=300 next_prio=120
 server      300 [001] 10.001000: sched:sched_switch: prev_comm=server prev_pid=300 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
`
	s := newSummary()
	for _, line := range strings.Split(trace, "\n") {
		if ev, ok := parseLine(line); ok {
			s.add(ev)
		}
	}
	proxy, server := s.byComm["proxy"], s.byComm["server"]
	if proxy == nil || server == nil {
		t.Fatalf("wake-ups not counted: %v", s.byComm)
	}
	if len(proxy.wait[0]) != 1 || proxy.wait[0][0] != 30*time.Microsecond || len(proxy.wait[1]) != 0 {
		t.Errorf("proxy woken onto the busy CPU 0: waits %v, want busy [30µs]", proxy.wait)
	}
	if len(server.wait[1]) != 1 || server.wait[1][0] != 10*time.Microsecond || len(server.wait[0]) != 0 {
		t.Errorf("server woken onto the idle CPU 1: waits %v, want idle [10µs]", server.wait)
	}
	if proxy.wakers["client"] != 1 || server.wakers["proxy"] != 1 {
		t.Errorf("wakers: proxy %v, server %v", proxy.wakers, server.wakers)
	}
	if s.idle[1] != 210*time.Microsecond {
		t.Errorf("cpu1 idle %v, want 210µs (before the server ran; idle again only at the trace's end)", s.idle[1])
	}
	var out bytes.Buffer
	s.report(&out, 8, 1)
	for _, want := range []string{"| proxy | 1.00 | 1.00 | 30 / 30 µs | 0.00 | — | client 1.00 |", "cpu0 0.0%", "cpu1 21.0%"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReportEmpty(t *testing.T) {
	var out bytes.Buffer
	newSummary().report(&out, 8, 0)
	if !strings.Contains(out.String(), "no scheduler events") {
		t.Fatalf("empty trace: %q", out.String())
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add("       bench-bin 15015 [000] 45506.604762: sched:sched_wakeup: comm=privlink-base pid=14995 prio=120 target_cpu=001")
	f.Add("     swapper/1     0 [001] 1.000001: sched:sched_switch: prev_comm=ksoftirqd/1 prev_pid=22 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120")
	f.Add("x 1 [9999999999999999999] 1.1: sched:sched_wakeup: comm= pid=1 prio=1 target_cpu=99999999999999999999")
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := parseLine(line)
		if !ok {
			return
		}
		if ev.t < 0 || ev.pid < 0 || ev.cpu < 0 || ev.onCPU < 0 {
			t.Fatalf("negative field from %q: %+v", line, ev)
		}
		s := newSummary()
		s.add(ev)
		s.report(&bytes.Buffer{}, 1, 0)
	})
}
