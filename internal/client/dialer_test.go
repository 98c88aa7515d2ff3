package client_test

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/privlink/privlink/internal/client"
)

// TestWithDialer: the derived client's connections go through the given
// dial function and still verify the server with NewTLS's certificate;
// the original client is unchanged.
func TestWithDialer(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{}`)) //nolint:errcheck
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	base, err := client.NewTLS(srv.URL, "tok", ca)
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	c := base.WithDialer(dial)
	if err := c.Do(context.Background(), http.MethodGet, "/v1/x", nil, nil); err != nil {
		t.Fatalf("through the dialer: %v", err)
	}
	if dials.Load() != 1 {
		t.Fatalf("dialer called %d times, want 1", dials.Load())
	}
	if err := base.Do(context.Background(), http.MethodGet, "/v1/x", nil, nil); err != nil {
		t.Fatal(err)
	}
	if dials.Load() != 1 {
		t.Error("the original client used the dialer")
	}
	// Without the certificate the derived client refuses the server.
	plain := client.New(srv.URL, "tok").WithDialer(dial)
	if err := plain.Do(context.Background(), http.MethodGet, "/v1/x", nil, nil); err == nil {
		t.Error("untrusted server accepted")
	}
}
