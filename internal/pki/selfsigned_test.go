package pki

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSelfSigned: issued once (0600 files), reused on the next call,
// trusted by a pool holding only itself for every host it names and
// loopback, and refused with a clear error for a host it lacks.
func TestSelfSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	crt, key := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	c, err := SelfSigned(crt, key, []string{"api.example", "10.9.8.7", "0.0.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{crt, key} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v %v, want 0600", f, fi.Mode(), err)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(c)
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "api.example", "10.9.8.7"} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: h}); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.example"}); err == nil {
		t.Error("verified for a host it does not name")
	}
	before, _ := os.ReadFile(crt)
	again, err := SelfSigned(crt, key, []string{"api.example"})
	if err != nil || !bytes.Equal(again.Raw, c.Raw) {
		t.Fatalf("second call: %v, same certificate %v", err, err == nil && bytes.Equal(again.Raw, c.Raw))
	}
	if after, _ := os.ReadFile(crt); !bytes.Equal(before, after) {
		t.Error("the second call rewrote the certificate")
	}
	if _, err := SelfSigned(crt, key, []string{"new.example"}); err == nil || !strings.Contains(err.Error(), "remove it and api.key") {
		t.Errorf("a host the certificate lacks: %v", err)
	}
	if fp := Fingerprint(c.Raw); len(fp) != 95 || strings.Count(fp, ":") != 31 {
		t.Errorf("fingerprint %q", fp)
	}
}
