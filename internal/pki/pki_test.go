package pki

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapshot reads every file of the set.
func snapshot(t *testing.T, s Set) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{s.CACert, s.CAKey, s.ServerCert, s.ServerKey, s.ClientCert, s.ClientKey} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

// TestEnsureFirstStart: six files, 0600 in a 0700 directory; the server
// certificate names loopback and the hosts; both leaves chain to the CA
// for their use.
func TestEnsureFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	s, err := Ensure(dir, []string{"10.1.2.3", "etcd.example", "0.0.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v %v", fi.Mode(), err)
	}
	for f := range snapshot(t, s) {
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode())
		}
	}
	ca, _ := load(s.CACert, s.CAKey)
	server, _ := load(s.ServerCert, s.ServerKey)
	client, _ := load(s.ClientCert, s.ClientKey)
	if err := names(server, []string{"127.0.0.1", "::1", "localhost", "10.1.2.3", "etcd.example"}); err != nil {
		t.Error(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	for _, c := range []struct {
		p   *pair
		use x509.ExtKeyUsage
	}{{server, x509.ExtKeyUsageServerAuth}, {server, x509.ExtKeyUsageClientAuth}, {client, x509.ExtKeyUsageClientAuth}} {
		if _, err := c.p.cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{c.use}}); err != nil {
			t.Errorf("%s for %v: %v", c.p.cert.Subject.CommonName, c.use, err)
		}
	}
	if _, err := client.cert.Verify(x509.VerifyOptions{Roots: roots}); err == nil {
		t.Error("the client certificate serves TLS")
	}
}

// TestEnsureRestart: what exists is reused byte for byte; what is missing
// is issued from the same CA; what is broken is an error naming the file.
func TestEnsureRestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []string
		spoil func(s Set)
		err   string // "" = success
		same  []string
	}{
		{name: "reuse", same: []string{"ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key"}},
		{name: "server reissued", spoil: func(s Set) { os.Remove(s.ServerCert); os.Remove(s.ServerKey) },
			same: []string{"ca.crt", "ca.key", "client.crt", "client.key"}},
		{name: "half a pair", spoil: func(s Set) { os.Remove(s.ClientKey) }, err: "client.crt and client.key go together"},
		{name: "corrupt", spoil: func(s Set) { os.WriteFile(s.CACert, []byte("junk"), 0o600) }, err: "ca.crt: tls"},
		{name: "CA gone", spoil: func(s Set) { os.Remove(s.CACert); os.Remove(s.CAKey) }, err: "its CA"},
		{name: "unreadable", spoil: func(s Set) { os.Remove(s.ServerKey); os.Mkdir(s.ServerKey, 0o700) }, err: "server.key"},
		{name: "new host", hosts: []string{"10.9.9.9"}, err: "remove it and server.key to reissue it"},
		{name: "foreign leaf", spoil: func(s Set) {
			other, _ := Ensure(filepath.Join(filepath.Dir(s.Dir), "other"), nil)
			for from, to := range map[string]string{other.ClientCert: s.ClientCert, other.ClientKey: s.ClientKey} {
				b, _ := os.ReadFile(from)
				os.WriteFile(to, b, 0o600)
			}
		}, err: "client.crt: x509"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			s, err := Ensure(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, s)
			if tc.spoil != nil {
				tc.spoil(s)
			}
			_, err = Ensure(dir, tc.hosts)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err %v, want %q", err, tc.err)
			case tc.err != "":
				return
			case err != nil:
				t.Fatal(err)
			}
			after := snapshot(t, s)
			for _, f := range tc.same {
				if !bytes.Equal(before[filepath.Join(dir, f)], after[filepath.Join(dir, f)]) {
					t.Errorf("%s changed", f)
				}
			}
			if len(tc.same) < len(before) && bytes.Equal(before[s.ServerCert], after[s.ServerCert]) {
				t.Error("server.crt not reissued")
			}
		})
	}
}

// TestIssueForAnotherMember: Issue makes a member's set from the first
// member's CA without copying the CA key; Ensure accepts the copied set as
// is (no reissue, no CA made) and refuses to issue what is missing there.
func TestIssueForAnotherMember(t *testing.T) {
	first, err := Ensure(filepath.Join(t.TempDir(), "pki"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "m2")
	s, err := Issue(first.Dir, out, []string{"10.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "ca.key")); !os.IsNotExist(err) {
		t.Fatalf("the CA key was copied: %v", err)
	}
	if _, err := Issue(first.Dir, out, []string{"10.0.0.2"}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("issue over an existing set: %v", err)
	}
	if _, err := Issue(out, t.TempDir(), nil); err == nil {
		t.Error("issued from a directory without the CA key")
	}
	before := map[string][]byte{}
	for _, f := range []string{s.CACert, s.ServerCert, s.ServerKey, s.ClientCert, s.ClientKey} {
		before[f], _ = os.ReadFile(f)
	}
	if _, err := Ensure(out, []string{"10.0.0.2"}); err != nil {
		t.Fatalf("ensure on the issued set: %v", err)
	}
	for f, b := range before {
		if now, _ := os.ReadFile(f); !bytes.Equal(now, b) {
			t.Errorf("%s changed", f)
		}
	}
	ca, _ := readCert(first.CACert)
	server, _ := load(s.ServerCert, s.ServerKey)
	if err := (&pair{cert: ca}).signed(server); err != nil || server.cert.Subject.CommonName != PeerCN {
		t.Errorf("issued server certificate: CN %q, %v", server.cert.Subject.CommonName, err)
	}
	if err := names(server, []string{"10.0.0.2", "127.0.0.1"}); err != nil {
		t.Error(err)
	}
	// A host the issued certificate lacks, or a missing leaf, cannot be fixed here.
	if _, err := Ensure(out, []string{"10.0.0.9"}); err == nil {
		t.Error("ensure accepted a host the certificate does not name")
	}
	os.Remove(s.ClientCert)
	os.Remove(s.ClientKey)
	if _, err := Ensure(out, nil); err == nil || !strings.Contains(err.Error(), "pki issue") {
		t.Errorf("missing client pair without CA key: %v", err)
	}
}
