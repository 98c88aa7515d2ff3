package console_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/console"
	"github.com/privlink/privlink/internal/testenv"
)

// TestCookiesSecureOverTLS: over TLS (--tls-self-signed) every cookie the
// console sets carries Secure and login works; over plain HTTP (loopback)
// none does, or the browser would never send it back; behind a
// TLS-terminating proxy (X-Forwarded-Proto: https) they do again.
func TestCookiesSecureOverTLS(t *testing.T) {
	for _, tc := range []struct {
		name           string
		overTLS, proxy bool
	}{{"TLS", true, false}, {"plain HTTP", false, false}, {"behind a TLS proxy", false, true}} {
		overTLS, wantSecure := tc.overTLS, tc.overTLS || tc.proxy
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}, Console: console.New, TLSSelfSigned: overTLS})
			if got := strings.HasPrefix(e.URL(), "https://"); got != overTLS {
				t.Fatalf("URL %s", e.URL())
			}
			h := newHTTP(t, e.URL())
			if overTLS {
				pem, err := os.ReadFile(e.CACert())
				must(t, err)
				roots := x509.NewCertPool()
				roots.AppendCertsFromPEM(pem)
				h.c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
			}
			if tc.proxy {
				h.c.Transport = forwardedHTTPS{http.DefaultTransport}
			}
			loginPage, _ := h.get("/console/login")
			resp, body := h.login(e.Admin.Token())
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: HTTP %d\n%s", resp.StatusCode, body)
			}
			var names []string
			for _, r := range []*http.Response{loginPage, resp} {
				for _, raw := range r.Header.Values("Set-Cookie") {
					names = append(names, raw[:strings.Index(raw, "=")])
					if secure := strings.Contains(raw, "; Secure"); secure != wantSecure {
						t.Errorf("Set-Cookie %.40q...: Secure %v, want %v", raw, secure, wantSecure)
					}
				}
			}
			if !strings.Contains(strings.Join(names, " "), "privlink_login") || !strings.Contains(strings.Join(names, " "), "privlink_session") {
				t.Fatalf("cookies set: %v, want privlink_login and privlink_session", names)
			}
			if resp, body := h.get("/console/services"); resp.StatusCode != http.StatusOK {
				t.Errorf("after login: HTTP %d\n%.300s", resp.StatusCode, body)
			}
		})
	}
}

// forwardedHTTPS is a TLS-terminating proxy's header on a plain request.
type forwardedHTTPS struct{ rt http.RoundTripper }

func (f forwardedHTTPS) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-Proto", "https")
	return f.rt.RoundTrip(r)
}
