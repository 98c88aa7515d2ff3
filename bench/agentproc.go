package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// plAgent is `privlink agent` serving one zone against the server's
// embedded etcd (--scale-agent-process): the scale workload then restarts
// the agent alone, the way a zone's agent is upgraded or restarted where
// it runs as its own process (docs/architecture.md).
type plAgent struct {
	srv     *plServer
	zone    string
	metrics string
	p       *proc
	starts  int
	keeper  bool // under a socket keeper (--socket-keeper) instead of --handoff-socket
}

// start launches the agent; it does not wait for readiness.
func (a *plAgent) start() error {
	if a.metrics == "" {
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("free port: %w", err)
		}
		a.metrics = fmt.Sprintf("127.0.0.1:%d", port)
	}
	a.starts++
	logPath := a.logPath()
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("agent log: %w", err)
	}
	pki := filepath.Join(a.srv.dataDir, "pki")
	args := []string{"agent", "--zone", a.zone, "--network", "netns", "--netns-prefix", a.srv.prefix,
		"--metrics-listen", a.metrics, "--etcd-endpoints", a.srv.etcdClient,
		"--etcd-cacert", filepath.Join(pki, "ca.crt"), "--etcd-cert", filepath.Join(pki, "client.crt"), "--etcd-key", filepath.Join(pki, "client.key"),
		"--proxy-fds", strconv.Itoa(a.srv.proxyFDs), "--endpoint-fd-share", "1"}
	args = append(args, "--handoff-socket", a.handoffSocket(), "--drain-timeout", "10s")
	if a.keeper {
		args = append(args, "--socket-keeper")
	}
	if dir := profileDir(); dir != "" {
		args = append(args, "--debug-pprof",
			"--startup-cpuprofile", filepath.Join(dir, fmt.Sprintf("privlink-agent-startup-%d.pprof", a.starts)))
	}
	cmd := exec.Command(a.srv.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProc("privlink agent", cmd)
	logf.Close()
	if err != nil {
		return err
	}
	track(p)
	a.p = p
	slog.Debug("privlink agent started", "zone", a.zone, "pid", p.pid(), "log", logPath)
	return nil
}

// waitReady polls the agent's /readyz (its first round applied).
func (a *plAgent) waitReady(ctx context.Context, timeout time.Duration) error {
	return waitReadyz(ctx, a.p, "http://"+a.metrics+"/readyz", timeout, func() string {
		b, _ := os.ReadFile(a.logPath())
		return lastLines(string(b), 8)
	})
}

func (a *plAgent) logPath() string {
	return filepath.Join(a.srv.logDir, fmt.Sprintf("privlink-agent-%d.log", a.starts))
}

func (a *plAgent) stop() error {
	if a.p == nil || a.p.exited() {
		return nil
	}
	return a.p.stop(syscall.SIGTERM, 90*time.Second)
}

func (a *plAgent) running() bool { return a.p != nil && !a.p.exited() }

func (a *plAgent) handoffSocket() string {
	return filepath.Join(a.srv.dataDir, "agent-"+a.zone+".sock")
}

// waitLog waits until the agent's log holds what n times.
func (a *plAgent) waitLog(ctx context.Context, what string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(a.logPath())
		switch {
		case strings.Count(string(b), what) >= n:
			return nil
		case a.p.exited():
			return fmt.Errorf("privlink agent exited: %s", lastLines(string(b), 8))
		case time.Now().After(deadline):
			return fmt.Errorf("no %q in %s: %s", what, timeout, lastLines(string(b), 8))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// processGone reports whether pid has exited (a zombie or reaped).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

// worker is the pid of the agent under the socket keeper a.p.
func (a *plAgent) worker() (int, error) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", a.p.pid()))
	var pids []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(w); err == nil {
				pids = append(pids, n)
			}
		}
	}
	if len(pids) != 1 {
		return 0, fmt.Errorf("the socket keeper %d has children %v, want one agent", a.p.pid(), pids)
	}
	return pids[0], nil
}
