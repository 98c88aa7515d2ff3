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
// none does, or the browser would never send it back.
func TestCookiesSecureOverTLS(t *testing.T) {
	for _, overTLS := range []bool{true, false} {
		name := map[bool]string{true: "TLS", false: "plain HTTP"}[overTLS]
		t.Run(name, func(t *testing.T) {
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
			loginPage, _ := h.get("/console/login")
			resp, body := h.login(e.Admin.Token())
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: HTTP %d\n%s", resp.StatusCode, body)
			}
			var names []string
			for _, r := range []*http.Response{loginPage, resp} {
				for _, raw := range r.Header.Values("Set-Cookie") {
					names = append(names, raw[:strings.Index(raw, "=")])
					if secure := strings.Contains(raw, "; Secure"); secure != overTLS {
						t.Errorf("Set-Cookie %.40q...: Secure %v, want %v", raw, secure, overTLS)
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
