package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"

	"github.com/privlink/privlink/internal/pki"
	"github.com/privlink/privlink/internal/store"
)

// TLSInfo describes the API's certificate, for the operator and clients.
type TLSInfo struct {
	CertFile    string // what clients pass as --cacert when it is self-signed
	Fingerprint string // SHA-256 of the leaf certificate (pki.Fingerprint)
	SelfSigned  bool
}

// SelfSignedPaths are the files of --tls-self-signed in dataDir.
func SelfSignedPaths(dataDir string) (cert, key string) {
	dir := store.PKIDir(dataDir)
	return filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
}

// loadTLS returns the API listener's TLS config, nil for plain HTTP, and
// records TLSInfo.
func (s *Server) loadTLS() (*tls.Config, error) {
	certFile, keyFile := s.cfg.TLSCert, s.cfg.TLSKey
	if s.cfg.TLSSelfSigned {
		certFile, keyFile = SelfSignedPaths(s.cfg.DataDir)
		if _, err := pki.SelfSigned(certFile, keyFile, listenHosts(s.cfg.Listen)); err != nil {
			return nil, fmt.Errorf("self-signed API certificate: %w", err)
		}
	}
	if certFile == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("API certificate --tls-cert %s --tls-key %s: %w", certFile, keyFile, err)
	}
	s.tls = &TLSInfo{CertFile: certFile, Fingerprint: pki.Fingerprint(pair.Leaf.Raw), SelfSigned: s.cfg.TLSSelfSigned}
	return &tls.Config{MinVersion: minTLS, Certificates: []tls.Certificate{pair}}, nil
}

// listenHosts are the names the self-signed certificate carries besides
// loopback: the listen host, or for a wildcard listener this machine's
// host name and addresses.
func listenHosts(listen string) []string {
	host, _, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return pki.LocalHosts()
	}
	return []string{host}
}

// TLS describes the API's certificate; nil when the API is plain HTTP.
func (s *Server) TLS() *TLSInfo { return s.tls }
