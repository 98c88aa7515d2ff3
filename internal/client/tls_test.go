package client_test

import (
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/pki"
)

// TestNewTLS: against a real TLS listener, a client given the server's
// certificate calls it; one without gets an UntrustedError carrying the
// certificate's fingerprint; unusable CA files are refused up front.
func TestNewTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"accountId":"1234567890123456","name":"me"}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewTLS(srv.URL, "tok", ca)
	if err != nil {
		t.Fatal(err)
	}
	if me, err := c.WhoAmI(bg); err != nil || me.Name != "me" {
		t.Fatalf("trusted: %+v %v", me, err)
	}

	_, err = client.New(srv.URL, "tok").WhoAmI(bg)
	var ue *client.UntrustedError
	if !errors.As(err, &ue) || ue.Fingerprint != pki.Fingerprint(srv.Certificate().Raw) || !strings.Contains(err.Error(), ue.Fingerprint) {
		t.Fatalf("untrusted: %v", err)
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		t.Error("a TLS failure came back as an API error")
	}

	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for file, want := range map[string]string{filepath.Join(dir, "missing.crt"): "no such file", notPEM: "no PEM certificate"} {
		if _, err := client.NewTLS(srv.URL, "tok", file); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CA file %s: %v, want %q", file, err, want)
		}
	}
	if c, err := client.NewTLS("http://x", "tok", ""); err != nil || c.URL() != "http://x" {
		t.Errorf("no CA file: %v", err)
	}
}
