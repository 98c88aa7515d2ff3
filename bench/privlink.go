package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/privlink/privlink/internal/client"
)

// buildPrivlink compiles ./cmd/privlink into dir (the module's current tree).
func buildPrivlink(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "privlink")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/privlink/privlink/cmd/privlink")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/privlink: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// privlinkVersion describes the binary from its embedded build info.
func privlinkVersion(bin string) string {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	rev, dirty := "", ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " + uncommitted changes"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		rev, dirty = gitRevision()
	}
	return fmt.Sprintf("%s%s, built with %s", rev, dirty, bi.GoVersion)
}

// gitRevision describes the working tree with read-only git commands
// (for binaries built with -buildvcs=false).
func gitRevision() (rev, dirty string) {
	b, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "no VCS info", ""
	}
	st := exec.Command("git", "status", "--porcelain", "--untracked-files=no")
	st.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0") // never touch the index
	if out, err := st.Output(); err == nil && len(out) > 0 {
		dirty = " + uncommitted changes"
	}
	return strings.TrimSpace(string(b)), dirty
}

// plServer is `privlink server` running as a subprocess of the harness.
type plServer struct {
	bin, dataDir, logDir, prefix          string
	listen, metrics, etcdClient, etcdPeer string
	p                                     *proc
	cleanupFlag                           bool     // this instance runs with --cleanup
	proxyFDs                              int      // the data plane's descriptor budget (--proxy-fds)
	agentZones                            []string // --agent-zones (nil: all)
	agent                                 *plAgent // a zone's agent in its own process (--scale-agent-process)
	starts                                int
	token                                 string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *plServer) pickPorts() error {
	var ports [4]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return fmt.Errorf("free port: %w", err)
		}
		ports[i] = p
	}
	s.listen = fmt.Sprintf("127.0.0.1:%d", ports[0])
	s.etcdClient = fmt.Sprintf("https://127.0.0.1:%d", ports[1])
	s.etcdPeer = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	s.metrics = fmt.Sprintf("127.0.0.1:%d", ports[3])
	return nil
}

// start launches the server; it does not wait for readiness.
func (s *plServer) start(cleanup bool) error {
	if s.listen == "" {
		if err := s.pickPorts(); err != nil {
			return err
		}
	}
	s.starts++
	logPath := filepath.Join(s.logDir, fmt.Sprintf("privlink-%d.log", s.starts))
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("privlink log: %w", err)
	}
	args := []string{"server", "--data-dir", s.dataDir, "--listen", s.listen, "--metrics-listen", s.metrics,
		"--etcd-listen-client", s.etcdClient, "--etcd-listen-peer", s.etcdPeer,
		"--network", "netns", "--netns-prefix", s.prefix,
		// The idle workload holds all its connections through one
		// endpoint: give it the whole budget, sized for the workload.
		"--proxy-fds", strconv.Itoa(s.proxyFDs), "--endpoint-fd-share", "1"}
	if cleanup {
		args = append(args, "--cleanup")
	}
	if s.agentZones != nil {
		args = append(args, "--agent-zones", strings.Join(s.agentZones, ","))
	}
	if dir := profileDir(); dir != "" {
		args = append(args, "--debug-pprof", // see profile.go
			"--startup-cpuprofile", filepath.Join(dir, fmt.Sprintf("privlink-startup-%d.pprof", s.starts)))
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProc("privlink server", cmd)
	logf.Close() // the child has its own descriptor
	if err != nil {
		return err
	}
	track(p)
	s.p, s.cleanupFlag = p, cleanup
	slog.Debug("privlink server started", "pid", p.pid(), "cleanup", cleanup, "log", logPath)
	return nil
}

func (s *plServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.logDir, fmt.Sprintf("privlink-%d.log", s.starts)))
	return lastLines(string(b), 8)
}

// waitReady polls /readyz until it answers 200.
func (s *plServer) waitReady(ctx context.Context, timeout time.Duration) error {
	return waitReadyz(ctx, s.p, "http://"+s.listen+"/readyz", timeout, s.logTail)
}

// waitReadyz polls url until it answers 200; p exiting or the timeout
// fails it with the last lines of p's log.
func waitReadyz(ctx context.Context, p *proc, url string, timeout time.Duration, logTail func() string) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		if p.exited() {
			return fmt.Errorf("%s exited (%v): %s", p.name, p.err, logTail())
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %s", p.name, timeout, logTail())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startReady starts the server and waits until it is ready; on the first
// start a port taken in the meantime gets new ports.
func (s *plServer) startReady(ctx context.Context, cleanup bool) error {
	for attempt := 0; ; attempt++ {
		if err := s.start(cleanup); err != nil {
			return err
		}
		err := s.waitReady(ctx, 120*time.Second)
		if err == nil {
			break
		}
		_ = s.stop()
		if attempt < 3 && s.starts == attempt+1 && strings.Contains(err.Error(), "address already in use") {
			s.listen = ""
			continue
		}
		return err
	}
	if s.token == "" {
		b, err := os.ReadFile(filepath.Join(s.dataDir, "admin.token"))
		if err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		s.token = strings.TrimSpace(string(b))
	}
	return nil
}

// stop sends SIGTERM and waits for the process to exit.
func (s *plServer) stop() error {
	if s.p == nil {
		return nil
	}
	return s.p.stop(syscall.SIGTERM, 90*time.Second)
}

func (s *plServer) running() bool { return s.p != nil && !s.p.exited() }

// pids are the server's and, with --scale-agent-process, its zone
// agent's: the proxy's CPU and memory are theirs together.
func (s *plServer) pids() []int {
	var out []int
	if s.running() {
		out = append(out, s.p.pid())
	}
	if s.agent != nil && s.agent.running() {
		out = append(out, s.agent.p.pid())
	}
	return out
}

func (s *plServer) url() string { return "http://" + s.listen }

func (s *plServer) admin() *client.Client { return client.New(s.url(), s.token) }

// finish stops the server and makes sure privlink's own cleanup ran: an
// instance started without --cleanup is followed by one started with it.
func (s *plServer) finish(ctx context.Context) error {
	if s.p == nil {
		return nil
	}
	wasCleanup := s.cleanupFlag && s.running()
	errs := []error{s.stop()}
	if !wasCleanup {
		if err := s.startReady(ctx, true); err != nil {
			errs = append(errs, fmt.Errorf("cleanup instance: %w", err))
		}
		errs = append(errs, s.stop())
	}
	if s.p.err != nil {
		errs = append(errs, fmt.Errorf("privlink server exit: %w: %s", s.p.err, s.logTail()))
	}
	return errors.Join(errs...)
}

func nproc() int { return runtime.NumCPU() }
