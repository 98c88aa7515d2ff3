// Package pki issues the certificates that close privlink's embedded etcd
// to everyone but privlink: a CA, a server certificate for etcd's client
// and peer listeners, and a client certificate for privlink processes
// (ECDSA P-256, crypto/x509). They live in one directory (0700, files
// 0600) and are made once: Ensure reuses every file that exists and
// issues only what is missing. For a cluster of machines, Issue makes
// another member's set from the first member's CA (privlink pki issue);
// Ensure accepts a set holding ca.crt without ca.key and then issues
// nothing. Server certificates carry the CN PeerCN, which etcd's peer
// listeners require.
package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Set is the paths of the files in one directory.
type Set struct {
	Dir                   string
	CACert, CAKey         string
	ServerCert, ServerKey string // etcd's client and peer listeners (also a client: the peer side, etcd's gateway)
	ClientCert, ClientKey string // privlink processes
}

// Paths names the files of a set in dir.
func Paths(dir string) Set {
	p := func(name string) string { return filepath.Join(dir, name) }
	return Set{Dir: dir,
		CACert: p("ca.crt"), CAKey: p("ca.key"),
		ServerCert: p("server.crt"), ServerKey: p("server.key"),
		ClientCert: p("client.crt"), ClientKey: p("client.key"),
	}
}

// Ensure loads the set in dir and issues what is missing: the CA only when
// no certificate exists yet, a leaf pair when both its files are absent.
// The server certificate must name every host (loopback is always named);
// a host it lacks, half a pair, a leaf the CA did not sign or an
// unreadable file is an error that says which file to remove.
func Ensure(dir string, hosts []string) (Set, error) {
	s := Paths(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s, fmt.Errorf("pki dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return s, fmt.Errorf("pki dir: %w", err)
	}
	ca, err := s.ca()
	if err != nil {
		return s, err
	}
	server, err := ca.leaf(s.ServerCert, s.ServerKey, serverTemplate(hosts))
	if err != nil {
		return s, err
	}
	if err := names(server, hosts); err != nil {
		return s, fmt.Errorf("%s: %w: remove it and %s to reissue it", s.ServerCert, err, filepath.Base(s.ServerKey))
	}
	if _, err := ca.leaf(s.ClientCert, s.ClientKey, clientTemplate()); err != nil {
		return s, err
	}
	return s, nil
}

// ca loads the CA, or makes one when no certificate of the set exists:
// leaves without their CA could never be verified again. A CA certificate
// without its key is the set of a joining etcd member (Issue made its
// leaves on the machine that holds the key): it verifies, but signs nothing.
func (s Set) ca() (*pair, error) {
	if c, k, err := both(s.CACert, s.CAKey); err != nil {
		return nil, err
	} else if c && !k {
		cert, err := readCert(s.CACert)
		if err != nil {
			return nil, err
		}
		return &pair{cert: cert}, nil
	}
	ca, err := load(s.CACert, s.CAKey)
	if err != nil || ca != nil {
		return ca, err
	}
	for _, f := range []string{s.ServerCert, s.ServerKey, s.ClientCert, s.ClientKey} {
		if ok, err := exists(f); err != nil || ok {
			return nil, errors.Join(err, fmt.Errorf("%s exists but its CA %s does not: remove the set in %s to reissue it", f, s.CACert, s.Dir))
		}
	}
	return create(s.CACert, s.CAKey, caTemplate(), nil)
}

// leaf loads a pair signed by ca, or issues it from tmpl when absent.
func (ca *pair) leaf(certPath, keyPath string, tmpl *x509.Certificate) (*pair, error) {
	p, err := load(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	if p == nil {
		if ca.key == nil {
			return nil, fmt.Errorf("%s is missing and this directory has no CA key to issue it: "+
				"run `privlink pki issue` on the machine that holds ca.key and copy its output here", certPath)
		}
		return create(certPath, keyPath, tmpl, ca)
	}
	if err := ca.signed(p); err != nil {
		return nil, fmt.Errorf("%s: %w: remove it and %s to reissue it", certPath, err, filepath.Base(keyPath))
	}
	return p, nil
}

// exists reports whether path exists; an error other than absence is returned.
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("pki: %w", err)
	}
}

// both reports which of a pair's files exist.
func both(certPath, keyPath string) (cert, key bool, err error) {
	if cert, err = exists(certPath); err != nil {
		return false, false, err
	}
	key, err = exists(keyPath)
	return cert, key, err
}

// Issue makes the set of another etcd member (or machine) in out, signed
// by the CA of the set in dir (which must hold ca.key): a copy of ca.crt, a
// server certificate naming hosts (and loopback) and a client certificate,
// but never the CA key. Copied to the member's <data-dir>/pki, Ensure
// accepts it as is. Existing files in out are refused, not overwritten.
func Issue(dir, out string, hosts []string) (Set, error) {
	src := Paths(dir)
	s := Paths(out)
	ca, err := load(src.CACert, src.CAKey)
	switch {
	case err != nil:
		return s, err
	case ca == nil:
		return s, fmt.Errorf("no CA in %s: issue on the machine whose privlink server made it (its <data-dir>/pki)", dir)
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return s, fmt.Errorf("pki issue: %w", err)
	}
	for _, f := range []string{s.CACert, s.CAKey, s.ServerCert, s.ServerKey, s.ClientCert, s.ClientKey} {
		if ok, err := exists(f); err != nil || ok {
			return s, errors.Join(err, fmt.Errorf("%s exists: issue into an empty directory", f))
		}
	}
	if err := writePEM(s.CACert, "CERTIFICATE", ca.cert.Raw); err != nil {
		return s, err
	}
	if _, err := create(s.ServerCert, s.ServerKey, serverTemplate(hosts), ca); err != nil {
		return s, err
	}
	if _, err := create(s.ClientCert, s.ClientKey, clientTemplate(), ca); err != nil {
		return s, err
	}
	s.CAKey = ""
	return s, nil
}
