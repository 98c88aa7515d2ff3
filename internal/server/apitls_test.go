package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/pki"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/testenv"
)

// get returns the status and body of a GET with hc.
func get(t *testing.T, hc *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAPISelfSignedTLS: with --tls-self-signed the API answers only over
// TLS 1.2+, with a certificate issued once in <data-dir>/pki (0600) and
// reused on restart; a client that trusts it works, one that does not gets
// an error naming the fingerprint, a plain HTTP client is told to use https.
func TestAPISelfSignedTLS(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}, TLSSelfSigned: true})
	info := e.TLS()
	if info == nil || !info.SelfSigned || !strings.HasPrefix(e.URL(), "https://") {
		t.Fatalf("TLS %+v, URL %s", info, e.URL())
	}
	crt, key := server.SelfSignedPaths(e.Dir)
	if info.CertFile != crt {
		t.Errorf("certificate file %s, want %s", info.CertFile, crt)
	}
	for _, f := range []string{crt, key} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, fi.Mode(), err)
		}
	}
	ctx := context.Background()
	if _, err := e.Admin.WhoAmI(ctx); err != nil {
		t.Fatalf("a client trusting the certificate: %v", err)
	}

	_, err := client.New(e.URL(), e.Admin.Token()).WhoAmI(ctx)
	var ue *client.UntrustedError
	if !errors.As(err, &ue) || ue.Fingerprint != info.Fingerprint {
		t.Fatalf("a client without the certificate: %v, want an UntrustedError with fingerprint %s", err, info.Fingerprint)
	}
	plain := "http://" + strings.TrimPrefix(e.URL(), "https://")
	if _, err := client.New(plain, e.Admin.Token()).WhoAmI(ctx); err == nil || !strings.Contains(err.Error(), "speaks HTTPS: use https://") {
		t.Errorf("plain HTTP to the TLS port: %v", err)
	}
	// TLS 1.1 is refused.
	addr := strings.TrimPrefix(e.URL(), "https://")
	if c, err := tls.Dial("tcp", addr, &tls.Config{MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}

	// A restart on the same data dir reuses the certificate.
	before, _ := os.ReadFile(crt)
	dir := e.Dir
	e.Stop()
	e2 := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}, TLSSelfSigned: true, DataDir: dir})
	after, _ := os.ReadFile(crt)
	if e2.TLS().Fingerprint != info.Fingerprint || string(before) != string(after) {
		t.Errorf("restart issued a new certificate: %s, was %s", e2.TLS().Fingerprint, info.Fingerprint)
	}
	if _, err := e2.Admin.WhoAmI(ctx); err != nil {
		t.Errorf("after restart: %v", err)
	}
}

// TestAPIGivenCertificate: --tls-cert/--tls-key serve a CA-signed
// certificate; a client trusting the CA works, the system roots do not.
func TestAPIGivenCertificate(t *testing.T) {
	set, err := pki.Ensure(filepath.Join(t.TempDir(), "ca"), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{},
		TLSCert: set.ServerCert, TLSKey: set.ServerKey, CACert: set.CACert})
	if e.TLS() == nil || e.TLS().SelfSigned || e.TLS().CertFile != set.ServerCert {
		t.Fatalf("TLS %+v", e.TLS())
	}
	if _, err := e.Admin.WhoAmI(context.Background()); err != nil {
		t.Fatalf("a client trusting the CA: %v", err)
	}
	var ue *client.UntrustedError
	if _, err := client.New(e.URL(), e.Admin.Token()).WhoAmI(context.Background()); !errors.As(err, &ue) {
		t.Errorf("system roots: %v, want UntrustedError", err)
	}
}

// TestManagementListener: /metrics is served on the management listener
// only; the tenants' port answers 404 for it and for the profiler, and
// /healthz and /readyz answer on both.
func TestManagementListener(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	hc := http.DefaultClient
	for _, tc := range []struct {
		base, path string
		status     int
		want       string
	}{
		{e.URL(), "/metrics", 404, ""},
		{e.URL(), "/debug/pprof/", 404, ""},
		{e.URL(), "/healthz", 200, "ok"},
		{e.URL(), "/readyz", 200, "ready"},
		{e.MetricsURL(), "/metrics", 200, "privlink_agent_synced"},
		{e.MetricsURL(), "/metrics", 200, "go_goroutines"},
		{e.MetricsURL(), "/healthz", 200, "ok"},
		{e.MetricsURL(), "/readyz", 200, "ready"},
		{e.MetricsURL(), "/debug/pprof/", 404, ""}, // --debug-pprof is off
		{e.MetricsURL(), "/v1/vpcs", 404, ""},
		{e.MetricsURL(), "/console/", 404, ""},
	} {
		if status, body := get(t, hc, tc.base+tc.path); status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s%s: %d %.100q, want %d with %q", tc.base, tc.path, status, body, tc.status, tc.want)
		}
	}
	if e.URL() == e.MetricsURL() {
		t.Fatal("one listener for both")
	}
}
