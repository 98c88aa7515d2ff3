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
		"--proxy-fds", strconv.Itoa(a.srv.proxyFDs), "--endpoint-fd-share", "1",
		"--handoff-socket", a.handoffSocket(), "--drain-timeout", "10s"}
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

// waitTookOver waits until the agent, started beside a running one with
// the same --handoff-socket, has taken over: its first round is applied
// on the handed sockets and the predecessor stopped accepting. (/readyz
// cannot tell: the predecessor answers it on the same address until then.)
func (a *plAgent) waitTookOver(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(a.logPath())
		switch {
		case strings.Contains(string(b), "handoff: took over"):
			return nil
		case a.p.exited():
			return fmt.Errorf("privlink agent exited during the handoff: %s", lastLines(string(b), 8))
		case time.Now().After(deadline):
			return fmt.Errorf("no handoff in %s: %s", timeout, lastLines(string(b), 8))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
