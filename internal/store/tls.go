package store

import (
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/privlink/privlink/internal/pki"
)

// Credentials are what the etcd client presents: PEM files for TLS (the CA
// that verifies the servers, and a client certificate), and etcd's own
// user/password auth when a cluster enables it. The embedded etcd's come
// from its data dir (PKIDir).
type Credentials struct {
	CACert, Cert, Key  string
	Username, Password string
}

// PKIDir is where the embedded etcd's CA and certificates live.
func PKIDir(dataDir string) string { return filepath.Join(dataDir, "pki") }

// tlsConfig is the client's TLS: nil (plain, or https with the system
// roots as clientv3 does) when no file is named.
func (c Credentials) tlsConfig() (*tls.Config, error) {
	if c.CACert == "" && c.Cert == "" && c.Key == "" {
		return nil, nil
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, errors.New("etcd client certificate and key go together")
	}
	t, err := transport.TLSInfo{TrustedCAFile: c.CACert, CertFile: c.Cert, KeyFile: c.Key}.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd client TLS: %w", err)
	}
	return t, nil
}

// secureEmbedded issues (or reuses) the embedded etcd's certificates and
// sets its client and peer listeners to TLS with client-certificate
// authentication: only holders of a certificate from its CA (privlink's
// processes, its peers) can talk to it, and only members (server
// certificates, CN pki.PeerCN) to the peer listener. It returns the client's credentials.
func secureEmbedded(dataDir string, ec *embed.Config) (Credentials, error) {
	var hosts []string
	for _, u := range slices.Concat(ec.ListenClientUrls, ec.ListenPeerUrls, ec.AdvertiseClientUrls, ec.AdvertisePeerUrls) {
		hosts = append(hosts, u.Hostname())
	}
	set, err := pki.Ensure(PKIDir(dataDir), hosts)
	if err != nil {
		return Credentials{}, fmt.Errorf("embedded etcd certificates: %w", err)
	}
	server := transport.TLSInfo{CertFile: set.ServerCert, KeyFile: set.ServerKey, TrustedCAFile: set.CACert, ClientCertAuth: true}
	ec.ClientTLSInfo, ec.PeerTLSInfo = server, server
	// Raft only between members: a machine holding a client certificate
	// (an agent's) cannot speak to the peer port.
	ec.PeerTLSInfo.AllowedCNs = []string{pki.PeerCN}
	return Credentials{CACert: set.CACert, Cert: set.ClientCert, Key: set.ClientKey}, nil
}
