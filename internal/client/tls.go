package client

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/privlink/privlink/internal/pki"
)

// NewTLS returns a client of base that trusts only the certificates in
// caFile (PEM: a CA, or the server's self-signed certificate) for https://
// URLs; with caFile "" it is New (the system's roots).
func NewTLS(base, token, caFile string) (*Client, error) {
	c := New(base, token)
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	c.hc = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	return c, nil
}

// UntrustedError is a TLS server certificate the client does not trust
// (unknown issuer, a name it does not carry, expired).
type UntrustedError struct {
	URL         string
	Fingerprint string // SHA-256 of the certificate the server presented
	Err         error
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("the certificate of %s is not trusted: %v (its SHA-256 fingerprint is %s)", e.URL, e.Err, e.Fingerprint)
}

func (e *UntrustedError) Unwrap() error { return e.Err }

// transportError names a certificate failure, and a plain HTTP request
// to a TLS port, plainly; other errors pass through.
func (c *Client) transportError(err error) error {
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) && len(ve.UnverifiedCertificates) > 0 {
		return &UntrustedError{URL: c.base, Fingerprint: pki.Fingerprint(ve.UnverifiedCertificates[0].Raw), Err: ve.Err}
	}
	return err
}

// plainToTLS recognizes Go's answer to an HTTP request on a TLS port.
func plainToTLS(status int, body []byte) bool {
	return status == http.StatusBadRequest && bytes.Contains(body, []byte("Client sent an HTTP request to an HTTPS server"))
}
