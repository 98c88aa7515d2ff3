package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/privlink/privlink/internal/netdrv"
)

// harness owns everything one run creates and removes it again.
type harness struct {
	cfg    Config
	self   string // this binary, re-executed as the children
	tmp    string
	prefix string // namespace prefix of this run's privlink server
	undo   []undoStep

	srv   *plServer
	t     *topology
	probe *interactive // probe child in the client host
	paths []dpPath
	rep   *Report
	serve *interactive // servers in the server host

	idleBase map[string]int64 // proxy RSS before the first idle-connection run
	fdBase   map[string]int   // proxy descriptors before each idle-connection run
	nofile   uint64           // RLIMIT_NOFILE of everything the harness starts
}

// fdsPerProxiedConn is what a proxy holds per idle connection: its two
// sockets (privlink takes a splice pipe only while bytes are in flight;
// the 1,024 descriptors of headroom cover its pooled pipes and sockets).
const fdsPerProxiedConn = 2

type undoStep struct {
	what string
	f    func() error
}

// started records every process the harness started, to verify at the
// end that none is left.
var (
	startedMu sync.Mutex
	started   []*proc
)

func track(p *proc) {
	startedMu.Lock()
	defer startedMu.Unlock()
	started = append(started, p)
}

func newHarness(cfg Config) (*harness, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	// Everything the harness starts inherits this: privlink's proxy needs
	// several descriptors per connection for the idle-connection workload
	// (like LimitNOFILE= in a systemd unit).
	nofile := raiseNofile()
	if need := uint64(cfg.IdleConns)*fdsPerProxiedConn + 1024; need > nofile {
		was := cfg.IdleConns
		cfg.IdleConns = int((nofile-1024)/fdsPerProxiedConn) / 100 * 100
		cfg.idleCapNote = fmt.Sprintf("idle connections capped at %d (asked: %d): RLIMIT_NOFILE is %d and cannot be raised here "+
			"(no CAP_SYS_RESOURCE), and each proxy needs %d descriptors per idle connection", cfg.IdleConns, was, nofile, fdsPerProxiedConn)
		slog.Warn(cfg.idleCapNote)
	}
	if need := uint64(cfg.SoakConns)*fdsPerProxiedConn + 1024; cfg.optIn("soak") && need > nofile {
		was := cfg.SoakConns
		cfg.SoakConns = int((nofile-1024)/fdsPerProxiedConn) / 100 * 100
		cfg.soakCapNote = fmt.Sprintf("soak connections capped at %d (asked: %d): RLIMIT_NOFILE is %d and cannot be raised here "+
			"(no CAP_SYS_RESOURCE); privlink holds %d descriptors per proxied connection and keeps 1,024 for everything else", cfg.SoakConns, was, nofile, fdsPerProxiedConn)
		slog.Warn(cfg.soakCapNote)
	}
	tmp, err := os.MkdirTemp("", "plbench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	var b [2]byte
	_, _ = rand.Read(b[:])
	h := &harness{cfg: cfg, self: self, tmp: tmp, prefix: "plb" + hex.EncodeToString(b[:]), nofile: nofile}
	h.onUndo("remove "+tmp, func() error { return os.RemoveAll(tmp) })
	return h, nil
}

func (h *harness) onUndo(what string, f func() error) {
	h.undo = append(h.undo, undoStep{what, f})
}

// cleanup runs the undo steps in reverse order, then checks that no
// namespace or process of this run is left (removing any it finds).
func (h *harness) cleanup() error {
	if h.undo == nil {
		return nil
	}
	var errs []error
	for i := len(h.undo) - 1; i >= 0; i-- {
		s := h.undo[i]
		slog.Debug("cleanup", "step", s.what)
		if err := s.f(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.what, err))
		}
	}
	h.undo = nil
	if left := leftovers(h.prefix); len(left) > 0 {
		errs = append(errs, fmt.Errorf("namespaces left behind, removing them: %v", left))
		if d, err := netdrv.New(netdrv.Netns, h.prefix, slog.Default()); err == nil {
			errs = append(errs, d.Topology.Cleanup())
		}
	}
	startedMu.Lock()
	for _, p := range started {
		if !p.exited() {
			errs = append(errs, fmt.Errorf("%s (pid %d) still running; killing it", p.name, p.pid()))
			_ = p.stop(syscall.SIGKILL, 5*time.Second)
		}
	}
	started = nil
	startedMu.Unlock()
	return errors.Join(errs...)
}

// leftovers lists namespaces and /etc/netns entries named "<prefix>-...".
func leftovers(prefix string) []string { return netdrv.Leftovers(prefix) }

func (h *harness) ns(id string) string { return h.prefix + "-" + id }

// run sets up, runs the selected workloads and returns the report.
func (h *harness) run(ctx context.Context) (*Report, error) {
	rep := newReport(h.cfg)
	rep.prefix = h.prefix
	h.rep = rep
	rep.header = append(rep.header, "command: `"+h.cfg.Command+"` (as root)")
	rep.header = append(rep.header, machineHeader()...)
	if h.cfg.idleCapNote != "" && h.cfg.selected("idle-conns") {
		rep.note("%s", h.cfg.idleCapNote)
	}
	if h.cfg.soakCapNote != "" {
		rep.note("%s", h.cfg.soakCapNote)
	}
	if h.cfg.optIn(workloadNodes) {
		h.runNodesOnce(ctx)
		if h.cfg.nodesOnly() {
			return rep, ctx.Err()
		}
	}
	if err := h.setup(ctx); err != nil {
		rep.addError("setup", err)
		if d, _ := time.ParseDuration(os.Getenv("PLBENCH_PAUSE_ON_ERROR")); d > 0 {
			slog.Error("setup failed; pausing before cleanup ($PLBENCH_PAUSE_ON_ERROR)", "err", err, "for", d, "tmp", h.tmp)
			time.Sleep(d)
		}
		return rep, err
	}
	c := h.cfg
	rep.header = append(rep.header, fmt.Sprintf("settings: runs %d, duration %v per timed run, %d idle conns, %d endpoints per control-plane round, %d existing for the loaded round and restarts",
		c.Runs, c.Duration, c.IdleConns, c.CPEndpoints, c.CPExisting))
	h.runDataPlane(ctx)
	h.noteFastOpen(ctx)
	h.runDNS(ctx)
	h.runUDP(ctx)
	h.runIPv6(ctx)
	h.runOverload(ctx)
	h.runSoak(ctx)
	h.runScale(ctx)
	h.runControlPlane(ctx)
	if err := ctx.Err(); err != nil {
		rep.addError("interrupted", err)
		return rep, err
	}
	return rep, nil
}

func (h *harness) setup(ctx context.Context) error {
	bin := h.cfg.Privlink
	if bin == "" {
		slog.Info("building privlink")
		var err error
		if bin, err = buildPrivlink(ctx, h.tmp); err != nil {
			return err
		}
	}
	vers := toolVersions()
	h.rep.header = append(h.rep.header,
		fmt.Sprintf("versions: bench %s; privlink %s; %s; %s", runtime.Version(), privlinkVersion(bin), vers[0], vers[1]))
	dataDir := filepath.Join(h.tmp, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		return err
	}
	logDir := h.tmp
	if d := profileDir(); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("profile dir: %w", err)
		}
		logDir = d // the server's logs (start-up phases) stay beside its profiles
	}
	h.srv = &plServer{bin: bin, dataDir: dataDir, logDir: logDir, prefix: h.prefix,
		proxyFDs: max(h.cfg.IdleConns, h.cfg.SoakConns)*fdsPerProxiedConn + 256}
	if h.cfg.ScaleAgent {
		h.srv.agentZones = []string{zoneI}
		h.srv.agent = &plAgent{srv: h.srv, zone: zoneH, keeper: h.cfg.ScaleKeeper}
	}
	h.onUndo("privlink server and its namespaces", func() error { return h.srv.finish(context.Background()) })
	slog.Info("starting privlink server", "prefix", h.prefix)
	if err := h.srv.startReady(ctx, false); err != nil {
		return err
	}
	if a := h.srv.agent; a != nil {
		// Stopped before the server's cleanup instance removes the namespaces.
		h.onUndo("privlink agent of zone "+a.zone, a.stop)
		if err := a.start(); err != nil {
			return err
		}
		if err := a.waitReady(ctx, 120*time.Second); err != nil {
			return err
		}
	}
	t, err := buildTopology(ctx, h.srv.admin(), h.prefix, h.cfg.optIn("ipv6"))
	if err != nil {
		return err
	}
	h.t = t
	if err := t.tuneNamespaces(ctx); err != nil {
		return err
	}
	if err := t.backendFastOpen(ctx); err != nil {
		return err
	}
	undo, err := t.addDirect(ctx)
	h.onUndo("direct veth and baseline addresses", undo)
	if err != nil {
		return err
	}
	if h.serve, err = h.interactive(h.ns(t.server.HostID), "serve"); err != nil {
		return err
	}
	if line, err := h.serve.readLine(20 * time.Second); err != nil || line != "READY" {
		return fmt.Errorf("servers in the server host did not start: %q %v", line, err)
	}
	cns := h.ns(t.ConsumerNet.VPC.VpcID)
	hap, err := startHAProxy(ctx, h.tmp, cns, t.server.IP.String(), h.nofile)
	if err != nil {
		return err
	}
	track(hap.p)
	h.onUndo("haproxy", hap.stop)
	ngx, err := startNginx(ctx, h.tmp, cns, t.server.IP.String(), h.nofile)
	if ngx != nil {
		track(ngx.p)
		h.onUndo("nginx", ngx.stop)
	}
	if err != nil {
		return err
	}
	hapT, ngxT, err := h.startTuned(ctx)
	if err != nil {
		return err
	}
	if h.probe, err = h.interactive(h.ns(t.client.HostID), "probe"); err != nil {
		return err
	}
	h.paths = []dpPath{
		{pathDirect, t.server.IP.String(), nil},
		{pathPrivlink, t.eni, h.srv.pids},
		{pathNAT, t.natENI, nil}, // no process in the path: the kernel's softirq work is charged to client and server
		{pathHAProxy, haproxyAddr, hap.pids},
		{pathNginx, nginxAddr, ngx.pids},
		{pathHAProxyTuned, haproxyTunedAddr, hapT.pids},
		{pathNginxTuned, nginxTunedAddr, ngxT.pids},
	}
	for _, p := range h.paths {
		if _, err := h.probeEcho(p.target, 20*time.Second); err != nil {
			return fmt.Errorf("path %s does not carry traffic: %w", p.name, err)
		}
	}
	h.paths = slices.DeleteFunc(h.paths, func(p dpPath) bool { return !h.cfg.pathSelected(p.name) })
	slog.Info("all paths carry traffic", "direct", t.server.IP, "privlink", t.eni, "haproxy", haproxyAddr, "nginx", nginxAddr)
	d := 2 * time.Second
	if h.cfg.Quick {
		d = 300 * time.Millisecond
	}
	if idle, err := cpuRate(h.srv.pids, d); err == nil {
		h.rep.note("the privlink server process also runs etcd, the API, the controllers, the agents' health checks and DNS: "+
			"without load it used %.1f%% of a core; that is included (not subtracted) in its CPU figures", idle*100)
	}
	return nil
}

// interactive starts a long-running child in ns and registers its end.
func (h *harness) interactive(ns, role string, args ...string) (*interactive, error) {
	c, err := startInteractive(h.self, ns, role, args...)
	if err != nil {
		return nil, err
	}
	track(c.proc)
	h.onUndo(role+" child in "+ns, c.close)
	return c, nil
}

// probeEcho asks the client host's probe child for the time until the
// first 64 B round trip to target:7001 succeeds.
func (h *harness) probeEcho(target string, timeout time.Duration) (time.Duration, error) {
	return probeCall(h.probe, "echo", target, timeout)
}

func probeCall(c *interactive, mode, target string, timeout time.Duration) (time.Duration, error) {
	d, _, err := probeCallExtra(c, mode, target, timeout)
	return d, err
}

// probeCallExtra is probeCall that also returns what follows the time in
// the reply (echoall: when the addresses had served, and refusals).
func probeCallExtra(c *interactive, mode, target string, timeout time.Duration) (time.Duration, string, error) {
	addr := withPort(target, portEcho)
	if mode == "connect" || mode == "echoall" {
		addr = target
	}
	reply, err := c.call(fmt.Sprintf("%s %s %d", mode, addr, timeout.Milliseconds()), timeout+10*time.Second)
	if err != nil {
		return 0, "", err
	}
	if v, ok := strings.CutPrefix(reply, "ok "); ok {
		var us int64
		_, err := fmt.Sscan(v, &us)
		_, extra, ok := strings.Cut(v, " ")
		if ok {
			slog.Info("probe", "mode", mode, "took", time.Duration(us)*time.Microsecond, "served", extra)
		}
		return time.Duration(us) * time.Microsecond, extra, err
	}
	return 0, "", errors.New(strings.TrimPrefix(reply, "err "))
}
