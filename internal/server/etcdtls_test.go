package server_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/testenv"
)

// TestEmbeddedEtcdCertificates: a process without the client certificate
// cannot join the embedded etcd; a restart on the same data dir reuses the
// certificates (byte for byte) and the admin token still works.
func TestEmbeddedEtcdCertificates(t *testing.T) {
	dir := t.TempDir()
	e := testenv.Start(t, testenv.Options{Network: "loopback", DataDir: dir})
	if !strings.HasPrefix(e.EtcdURL(), "https://") {
		t.Fatalf("embedded etcd at %s", e.EtcdURL())
	}
	for name, cfg := range map[string]server.Config{
		"no certificate": {EtcdCACert: e.Store.Credentials().CACert},
		"no TLS":         {},
	} {
		cfg.AgentOnly, cfg.AgentZones, cfg.Network = true, []string{"cn-hangzhou-i"}, "loopback"
		cfg.EtcdEndpoints, cfg.Logger = []string{e.EtcdURL()}, e.Config().Logger
		ctx, cancel := context.WithTimeout(bg, 3*time.Second) // the refusal shows as a timeout
		a, err := server.Start(ctx, cfg)
		cancel()
		if err == nil {
			a.Stop()
			t.Errorf("%s: an agent joined the embedded etcd", name)
		}
	}

	pki, err := filepath.Glob(filepath.Join(dir, "pki", "*"))
	if err != nil || len(pki) != 6 {
		t.Fatalf("pki files %v %v", pki, err)
	}
	before := map[string][]byte{}
	for _, f := range pki {
		before[f], _ = os.ReadFile(f)
	}
	e.Stop()
	e = testenv.Start(t, testenv.Options{Network: "loopback", DataDir: dir})
	for _, f := range pki {
		if now, err := os.ReadFile(f); err != nil || !bytes.Equal(now, before[f]) {
			t.Errorf("%s changed across the restart (%v)", f, err)
		}
	}
	if _, err := e.Admin.WhoAmI(bg); err != nil {
		t.Fatalf("admin token after restart: %v", err)
	}
}
