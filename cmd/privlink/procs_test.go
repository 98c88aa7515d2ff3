package main_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/pki"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// proc is one privlink process run from the test binary's build, which
// the test kills (-9) and restarts at will.
type proc struct {
	t       testing.TB
	name    string
	args    []string
	readyz  string // http://addr/readyz
	logFile string
	cmd     *exec.Cmd
	exited  chan struct{}
}

func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(f, "---- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(binary, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(p.exited) }()
}

// zoneIAgent is `privlink agent` for zone i against e's etcd, with its
// management listener on metricsAddr, its log in dir/name.log and flags.
func zoneIAgent(t testing.TB, e *testenv.Env, dir, name, metricsAddr string, flags ...string) *proc {
	args := append([]string{"agent", "--zone", "cn-hangzhou-i", "--netns-prefix", e.Prefix, "--metrics-listen", metricsAddr, "--log-level", "info"}, flags...)
	return &proc{t: t, name: name, logFile: filepath.Join(dir, name+".log"), readyz: "http://" + metricsAddr + "/readyz",
		args: append(args, e.EtcdFlags()...)}
}

// waitReady polls /readyz until it answers "ready"; the process exiting
// first fails the test with its log.
func (p *proc) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			p.t.Fatalf("%s exited before it was ready:\n%s", p.name, p.tail())
		default:
		}
		if resp, err := http.Get(p.readyz); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), "ready") && resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s not ready in 45s:\n%s", p.name, p.tail())
}

// kill is kill -9 and wait.
func (p *proc) kill() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// stop is SIGTERM, then SIGKILL after 10s.
func (p *proc) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s did not exit on SIGTERM", p.name)
		p.kill()
	}
	p.cmd = nil
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.logFile)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// machine is a server process with zone h's agent and a standalone agent
// process for zone i, on one embedded etcd, one data dir and one prefix.
type machine struct {
	t             testing.TB
	prefix, dir   string
	server, agent *proc
	zones         []string
	drv           netdrv.Driver // the test's own view of the namespaces
	etcd          string
}

func newMachine(t testing.TB) *machine {
	t.Helper()
	testenv.NeedRoot(t)
	m := &machine{t: t, prefix: testenv.RandomPrefix(), dir: t.TempDir(), zones: []string{"cn-hangzhou-h", "cn-hangzhou-i"}}
	port := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	api, metrics := port(), port()
	m.etcd = "https://" + port()
	files := pki.Paths(store.PKIDir(m.dir))
	m.server = &proc{t: t, name: "server", readyz: "http://" + api + "/readyz", logFile: filepath.Join(m.dir, "server.log"),
		args: []string{"server", "--data-dir", m.dir, "--listen", api, "--network", "netns", "--netns-prefix", m.prefix,
			"--zones", strings.Join(m.zones, ","), "--agent-zones", m.zones[0], "--log-level", "warn",
			"--etcd-listen-client", m.etcd, "--etcd-listen-peer", "https://" + port()}}
	m.agent = &proc{t: t, name: "agent", readyz: "http://" + metrics + "/readyz", logFile: filepath.Join(m.dir, "agent.log"),
		args: []string{"agent", "--zone", m.zones[1], "--netns-prefix", m.prefix, "--metrics-listen", metrics, "--log-level", "warn",
			"--etcd-endpoints", m.etcd, "--etcd-cacert", files.CACert, "--etcd-cert", files.ClientCert, "--etcd-key", files.ClientKey}}
	var err error
	if m.drv, err = netdrv.New(netdrv.Netns, m.prefix, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.agent.kill()
		m.server.kill()
		if t.Failed() {
			t.Logf("server log:\n%s\nagent log:\n%s", m.server.tail(), m.agent.tail())
		}
		if err := m.drv.Topology.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if d, ok := m.drv.Topology.(interface{ Close() error }); ok {
			d.Close()
		}
		for _, ext := range []string{".lock", ".owner"} {
			os.Remove(filepath.Join(netdrv.ClaimDir, "netns-"+m.prefix+ext))
		}
	})
	m.server.start()
	m.server.waitReady()
	m.agent.start()
	m.agent.waitReady()
	return m
}

// admin is the admin's client of the server process.
func (m *machine) admin() *client.Client {
	m.t.Helper()
	tok, err := os.ReadFile(filepath.Join(m.dir, "admin.token"))
	if err != nil {
		m.t.Fatal(err)
	}
	return client.New(strings.TrimSuffix(m.server.readyz, "/readyz"), strings.TrimSpace(string(tok)))
}

// openStore is the test's own client of the embedded etcd.
func (m *machine) openStore(ctx context.Context) (*store.Store, error) {
	files := pki.Paths(store.PKIDir(m.dir))
	return store.Open(ctx, store.Config{Endpoints: []string{m.etcd}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Credentials: store.Credentials{CACert: files.CACert, Cert: files.ClientCert, Key: files.ClientKey}})
}
