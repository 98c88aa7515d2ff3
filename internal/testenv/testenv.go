// Package testenv starts real privlink servers (embedded etcd on free
// loopback ports, unique namespace prefix, temp data dir) for integration
// tests, and removes everything they created when the test ends.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/notify"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/store"
)

// Options tweak the server.
type Options struct {
	Network string // default: netns (tests needing loopback say so)
	// WebhookAllow and Webhook are server.Config's (a loopback receiver
	// needs WebhookAllow 127.0.0.1/32).
	WebhookAllow  []string
	Webhook       notify.Config
	Zones         []string
	AgentZones    []string
	DataDir       string   // reuse a data dir (restart tests)
	EtcdEndpoints []string // join an existing etcd instead of embedding one (an Env's: its TLS files come along)
	Prefix        string   // netns prefix; default random
	Console       func(apiHandler http.Handler) http.Handler
	// TLSSelfSigned serves the API over TLS with the data dir's
	// self-signed certificate; Admin trusts it (Env.CACert).
	TLSSelfSigned bool
	// TLSCert and TLSKey serve the API over TLS with a given certificate;
	// CACert is the file that verifies it, for Admin.
	TLSCert, TLSKey, CACert string
	// EtcdQuotaBytes is the embedded etcd's backend quota (0: the default).
	EtcdQuotaBytes int64
	Server         func(*server.Config) // adjusts the server's config last
}

// Env is one running server.
type Env struct {
	*server.Server
	Admin  *client.Client
	Prefix string
	Dir    string
	caCert string
}

// NeedRoot skips the test when not root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces (run the suite as root, as CI does)")
	}
}

// FreePort returns a free loopback TCP port.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RandomPrefix is a short unique namespace prefix for one test.
func RandomPrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "plt" + hex.EncodeToString(b[:])
}

// Start runs a server and registers its shutdown and namespace cleanup.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Network == "" {
		o.Network = "netns"
	}
	if o.Network == "netns" {
		NeedRoot(t)
	}
	if o.Prefix == "" {
		o.Prefix = RandomPrefix()
	}
	dir := o.DataDir
	if dir == "" && len(o.EtcdEndpoints) == 0 {
		dir = t.TempDir()
	}
	var s *server.Server
	var err error
	// A port found free may be taken before etcd binds it: retry with new ones.
	for attempt := 0; attempt < 5; attempt++ {
		cfg := server.Config{
			DataDir: dir, Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", TLSSelfSigned: o.TLSSelfSigned, TLSCert: o.TLSCert, TLSKey: o.TLSKey, Region: server.DefaultRegion, Zones: o.Zones, AgentZones: o.AgentZones,
			Network: o.Network, NetnsPrefix: o.Prefix,
			WebhookAllow: o.WebhookAllow, Webhook: o.Webhook,
			EtcdClientURL: fmt.Sprintf("https://127.0.0.1:%d", FreePort(t)),
			EtcdPeerURL:   fmt.Sprintf("https://127.0.0.1:%d", FreePort(t)),
			Logger:        logger(t), Console: o.Console, EtcdQuotaBytes: o.EtcdQuotaBytes,
		}
		if len(o.EtcdEndpoints) > 0 {
			joinEtcd(&cfg, o.EtcdEndpoints)
		}
		if o.Server != nil {
			o.Server(&cfg)
		}
		if s, err = server.Start(context.Background(), cfg); err == nil || !store.AddrInUse(err) {
			break
		}
	}
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	env := &Env{Server: s, Prefix: o.Prefix, Dir: dir, caCert: o.CACert}
	if s.Store.Embedded() {
		etcds.Store(env.EtcdURL(), s.Store.Credentials())
	}
	t.Cleanup(func() {
		etcds.Delete(env.EtcdURL())
		s.Stop()
		if err := s.Driver.Topology.Cleanup(); err != nil {
			t.Errorf("cleanup namespaces: %v", err)
		}
		if left := Leftovers(o.Prefix); len(left) > 0 {
			t.Errorf("namespaces left behind: %v", left)
		}
	})
	if dir != "" {
		tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
		if err == nil {
			if env.Admin, err = client.NewTLS(s.URL(), strings.TrimSpace(string(tok)), env.CACert()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return env
}

// CACert is the file that verifies the API's certificate ("" for plain HTTP).
func (e *Env) CACert() string {
	if e.caCert != "" {
		return e.caCert
	}
	if t := e.TLS(); t != nil {
		return t.CertFile
	}
	return ""
}

// EtcdURL is the embedded etcd's client URL (for a second server or an
// agent: it also needs the TLS files, see JoinEtcd and EtcdFlags).
func (e *Env) EtcdURL() string { return e.Store.Endpoints()[0] }

// etcds maps the client URL of each running Env's embedded etcd to the
// credentials that open it.
var etcds sync.Map

// joinEtcd points cfg at endpoints with the credentials of the Env that
// runs them (none for an etcd this package did not start).
func joinEtcd(cfg *server.Config, endpoints []string) {
	cfg.EtcdEndpoints = endpoints
	if c, ok := etcds.Load(endpoints[0]); ok {
		creds := c.(store.Credentials)
		cfg.EtcdCACert, cfg.EtcdCert, cfg.EtcdKey = creds.CACert, creds.Cert, creds.Key
	}
}

// JoinEtcd points cfg (a second server or a standalone agent) at this
// Env's embedded etcd, with its client certificate.
func (e *Env) JoinEtcd(cfg *server.Config) { joinEtcd(cfg, []string{e.EtcdURL()}) }

// EtcdFlags are the `privlink agent` flags that join this Env's etcd.
func (e *Env) EtcdFlags() []string {
	c := e.Store.Credentials()
	return []string{"--etcd-endpoints", e.EtcdURL(), "--etcd-cacert", c.CACert, "--etcd-cert", c.Cert, "--etcd-key", c.Key}
}

// Account creates an account and returns a client with its token and its ID.
func (e *Env) Account(t testing.TB, name string) (*client.Client, string) {
	t.Helper()
	c, a, err := e.Admin.CreateAccountClient(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c, a.AccountID
}

func logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("PRIVLINK_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Leftovers lists the named namespaces and /etc/netns entries with prefix.
func Leftovers(prefix string) []string { return netdrv.Leftovers(prefix) }
