package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// SelfSigned loads the self-signed server certificate at certPath/keyPath
// or issues one naming hosts (and always localhost, 127.0.0.1 and ::1) when
// both files are absent; the directory is made 0700 and the files 0600. It
// is the API's certificate for labs: clients trust this very certificate
// (privlink --cacert certPath), there is no CA. A certificate that lacks a
// host, or half a pair, is an error that says which files to remove.
func SelfSigned(certPath, keyPath string, hosts []string) (*x509.Certificate, error) {
	dir := filepath.Dir(certPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki dir: %w", err)
	}
	p, err := load(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	if p == nil {
		tmpl := serverTemplate(hosts)
		tmpl.Subject = pkix.Name{CommonName: "privlink API (self-signed)"}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		if p, err = create(certPath, keyPath, tmpl, nil); err != nil {
			return nil, err
		}
	}
	if err := names(p, hosts); err != nil {
		return nil, fmt.Errorf("%s: %w: remove it and %s to reissue it", certPath, err, filepath.Base(keyPath))
	}
	return p.cert, nil
}

// Fingerprint is the SHA-256 of a certificate's DER bytes as colon
// separated hex pairs, as `openssl x509 -noout -fingerprint -sha256` prints it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// LocalHosts are the names a wildcard listener is reached by on this
// machine: its host name and the addresses of its interfaces (loopback is
// always named anyway).
func LocalHosts() []string {
	var hosts []string
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			hosts = append(hosts, n.IP.String())
		}
	}
	return hosts
}
