package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// validity of every certificate: long, so that a self-hosted control plane
// does not stop on a forgotten renewal; reissue by removing the files.
const validity = 10 * 365 * 24 * time.Hour

// pair is a certificate and its key.
type pair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// load reads a pair: nil when both files are absent, an error when one of
// them is, or when either cannot be read or they do not match.
func load(certPath, keyPath string) (*pair, error) {
	c, err := exists(certPath)
	if err != nil {
		return nil, err
	}
	k, err := exists(keyPath)
	if err != nil {
		return nil, err
	}
	switch {
	case !c && !k:
		return nil, nil
	case c != k:
		return nil, fmt.Errorf("%s and %s go together and only one exists: remove it to reissue the pair", certPath, filepath.Base(keyPath))
	}
	tc, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", certPath, err)
	}
	key, ok := tc.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", keyPath)
	}
	return &pair{cert: tc.Leaf, key: key}, nil
}

// readCert reads one PEM certificate.
func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// create makes a key, signs tmpl with parent (itself when nil) and writes
// both files, 0600.
func create(certPath, keyPath string, tmpl *x509.Certificate, parent *pair) (*pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = tmpl.NotBefore.Add(validity)
	signer := &pair{cert: tmpl, key: key}
	if parent != nil {
		signer = parent
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer.cert, &key.PublicKey, signer.key)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", certPath, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", certPath, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", keyPath, err)
	}
	if err := writePEM(keyPath, "EC PRIVATE KEY", keyDER); err != nil {
		return nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	return &pair{cert: cert, key: key}, nil
}

// writePEM writes one block, 0600, through a temporary file and a rename
// so that a crash never leaves a truncated file.
func writePEM(path, typ string, der []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	err = errors.Join(f.Chmod(0o600), pem.Encode(f, &pem.Block{Type: typ, Bytes: der}), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// signed checks that ca issued p.
func (ca *pair) signed(p *pair) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	_, err := p.cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// names checks that the server certificate names every host.
func names(p *pair, hosts []string) error {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			continue // a wildcard listener: clients name a real address
		}
		if err := p.cert.VerifyHostname(h); err != nil {
			return err
		}
	}
	return nil
}

func caTemplate() *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: "privlink etcd CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

// PeerCN is the common name of server certificates (etcd members): the
// only name an etcd peer listener accepts, so that a client certificate
// (CN "privlink") cannot speak raft.
const PeerCN = "privlink etcd"

// serverTemplate serves etcd's client and peer listeners; it is also a
// client certificate, for the peer connections and etcd's own gateway.
func serverTemplate(hosts []string) *x509.Certificate {
	t := &x509.Certificate{
		Subject:     pkix.Name{CommonName: PeerCN},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		ip := net.ParseIP(h)
		switch {
		case ip == nil && !slices.Contains(t.DNSNames, h):
			t.DNSNames = append(t.DNSNames, h)
		case ip != nil && !ip.IsUnspecified() && !slices.ContainsFunc(t.IPAddresses, ip.Equal):
			t.IPAddresses = append(t.IPAddresses, ip) // other loopbacks too: a lab's members on 127.0.0.x
		}
	}
	return t
}

func clientTemplate() *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: "privlink"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}
