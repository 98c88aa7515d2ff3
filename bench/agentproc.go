package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
		"--proxy-fds", strconv.Itoa(a.srv.proxyFDs), "--endpoint-fd-share", "1"}
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
