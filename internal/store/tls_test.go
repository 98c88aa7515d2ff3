package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/pki"
)

// try reads and writes one key through a fresh etcd client.
func try(endpoint string, tlsCfg *tls.Config) (readErr, writeErr error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second, TLS: tlsCfg, Logger: quietZap()})
	if err != nil {
		return err, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, readErr = cli.Get(ctx, "/privlink/token/forged")
	_, writeErr = cli.Put(ctx, "/privlink/token/forged", `{"admin":true}`)
	return readErr, writeErr
}

// TestEmbeddedEtcdClosed: the embedded etcd answers only clients that
// present a certificate from its CA. Without TLS, or with TLS and no
// client certificate, nothing can be read or written, on the client port
// and the peer port alike; with the generated client certificate it can.
func TestEmbeddedEtcdClosed(t *testing.T) {
	s := openTest(t)
	endpoint := s.Endpoints()[0]
	u, _ := url.Parse(endpoint)
	if u.Scheme != "https" {
		t.Fatalf("embedded etcd serves %s", endpoint)
	}
	creds := s.Credentials()
	caOnly, err := Credentials{CACert: creds.CACert}.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	withCert, err := creds.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		endpoint string
		tls      *tls.Config
		allowed  bool
	}{
		{"plain http", "http://" + u.Host, nil, false},
		{"https without TLS config", endpoint, nil, false},
		{"TLS without a client certificate", endpoint, caOnly, false},
		{"a certificate from another CA", endpoint, foreignCert(t, creds.CACert), false},
		{"the generated client certificate", endpoint, withCert, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w := try(tc.endpoint, tc.tls)
			if tc.allowed && (r != nil || w != nil) {
				t.Fatalf("read %v, write %v", r, w)
			}
			if !tc.allowed && (r == nil || w == nil) {
				t.Fatalf("read %v, write %v: want both refused", r, w)
			}
		})
	}
	if _, err := s.cli.Delete(context.Background(), "/privlink/token/forged"); err != nil {
		t.Fatal(err)
	}

	// The peer listener wants a certificate from the CA too.
	peer := s.etcd.Config().ListenPeerUrls[0]
	caOnly.ServerName = peer.Hostname()
	if c, err := tls.Dial("tcp", peer.Host, caOnly); err == nil {
		_, err = c.Read(make([]byte, 1)) // TLS 1.3: the server's refusal arrives after the handshake
		c.Close()
		if err == nil {
			t.Error("peer listener accepted a client without a certificate")
		}
	}
}

// foreignCert is a client certificate from a CA of its own, trusting the real CA.
func foreignCert(t *testing.T, caFile string) *tls.Config {
	set, err := pki.Ensure(filepath.Join(t.TempDir(), "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Credentials{CACert: caFile, Cert: set.ClientCert, Key: set.ClientKey}.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestEmbeddedRestartReusesCertificates: a restart on the same data dir
// issues nothing and its client reads what was written before.
func TestEmbeddedRestartReusesCertificates(t *testing.T) {
	s, cfg := openEmbedded(t, Config{Logger: slog.Default()})
	if _, err := s.cli.Put(context.Background(), "/privlink/kept", "v"); err != nil {
		t.Fatal(err)
	}
	set := pki.Paths(PKIDir(cfg.DataDir))
	files := []string{set.CACert, set.CAKey, set.ServerCert, set.ServerKey, set.ClientCert, set.ClientKey}
	before := map[string][]byte{}
	for _, f := range files {
		before[f], _ = os.ReadFile(f)
	}
	s.Close()

	s, _ = openEmbedded(t, cfg) // the same data dir
	defer s.Close()
	for _, f := range files {
		if now, _ := os.ReadFile(f); len(now) == 0 || !bytes.Equal(now, before[f]) {
			t.Errorf("%s changed across the restart", f)
		}
	}
	if r, err := s.cli.Get(context.Background(), "/privlink/kept"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("after restart: %v %v", r, err)
	}
}

// TestCredentialsConfig: the client's TLS from the files it is given.
func TestCredentialsConfig(t *testing.T) {
	set, err := pki.Ensure(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		c       Credentials
		tls, ok bool
	}{
		{"none", Credentials{Username: "u", Password: "p"}, false, true},
		{"CA only", Credentials{CACert: set.CACert}, true, true},
		{"full", Credentials{CACert: set.CACert, Cert: set.ClientCert, Key: set.ClientKey}, true, true},
		{"cert without key", Credentials{Cert: set.ClientCert}, false, false},
		{"missing CA file", Credentials{CACert: set.CACert + ".missing"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.c.tlsConfig()
			if (err == nil) != tc.ok || (cfg != nil) != tc.tls {
				t.Fatalf("tls %v err %v", cfg != nil, err)
			}
		})
	}
}
