package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childEnv selects the role of a re-executed bench binary (see childMain).
const childEnv = "PLBENCH_CHILD"

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// proc is a subprocess the harness started and must stop.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done is closed
}

// sysProcAttr puts a child in its own process group (a terminal's Ctrl-C
// reaches only the harness, which then stops everything in order) and
// kills it if the harness dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startProc starts cmd and watches for its exit.
func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = sysProcAttr()
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process (by its pid) and waits up to grace before
// killing it.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	if p == nil || p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	slog.Warn("process did not stop in time; killing it", "name", p.name, "pid", p.pid())
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s (pid %d) ignored %v for %v", p.name, p.pid(), sig, grace)
}

// childCmd builds `ip netns exec NS <self> ARGS...` with the child role set.
func childCmd(ctx context.Context, self, ns, role string, args ...string) *exec.Cmd {
	argv := append([]string{"netns", "exec", ns, self}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	return cmd
}

// runChild runs a one-shot child in namespace ns and returns its stdout.
// The child bounds its own run time; timeout is a safety net on top.
func runChild(ctx context.Context, self, ns, role string, timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := childCmd(ctx, self, ns, role, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %v in %s: %w: %s", role, args, ns, err, lastLines(errb.String(), 5))
	}
	return out.Bytes(), nil
}

// interactive is a long-running child driven by lines on stdin/stdout.
type interactive struct {
	*proc
	in  io.WriteCloser
	out *bufio.Reader
}

func startInteractive(self, ns, role string, args ...string) (*interactive, error) {
	cmd := childCmd(context.Background(), self, ns, role, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = &prefixWriter{prefix: role + "@" + ns}
	p, err := startProc(role, cmd)
	if err != nil {
		return nil, err
	}
	return &interactive{proc: p, in: in, out: bufio.NewReader(outp)}, nil
}

// call writes one request line and reads one reply line, within timeout.
func (c *interactive) call(line string, timeout time.Duration) (string, error) {
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		return "", fmt.Errorf("%s: write request: %w", c.name, err)
	}
	return c.readLine(timeout)
}

func (c *interactive) readLine(timeout time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := c.out.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return "", fmt.Errorf("%s: read reply: %w", c.name, r.err)
		}
		return r.s, nil
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		return "", fmt.Errorf("%s: no reply within %v (killed)", c.name, timeout)
	}
}

// close ends the child: stdin EOF makes it exit.
func (c *interactive) close() error {
	if c == nil {
		return nil
	}
	_ = c.in.Close()
	select {
	case <-c.done:
		return nil
	case <-time.After(10 * time.Second):
		return c.stop(syscall.SIGKILL, 5*time.Second)
	}
}

// prefixWriter forwards a child's stderr to the harness log, line by line.
type prefixWriter struct {
	prefix string
	buf    []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		slog.Debug(w.prefix + ": " + string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// cpuSeconds is utime+stime of the processes, in seconds (exited threads
// included, exited processes not).
func cpuSeconds(pids []int) (float64, error) {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
		}
		// Fields after the command name, which is in parentheses and may contain spaces.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 13 {
			return 0, fmt.Errorf("pid %d: short stat line", pid)
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += ut + st
	}
	return float64(ticks) / clockTicks, nil
}

// rssBytes is the sum of VmRSS of the processes.
func rssBytes(pids []int) (int64, error) {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("pid %d: VmRSS %q: %w", pid, v, err)
				}
				total += kb << 10
			}
		}
	}
	return total, nil
}

// countFDs is the number of open descriptors of the processes.
func countFDs(pids []int) int {
	n := 0
	for _, pid := range pids {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		n += len(ents)
	}
	return n
}

// childrenOf lists the pids whose parent is ppid (nginx workers).
func childrenOf(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

// machineBusy returns busy and total jiffies of all CPUs from /proc/stat.
func machineBusy() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest time is already in user
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// run runs a command and returns its error with output.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
