package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/testenv"
)

// TestServiceForwardingField: the new-service form offers the forwarding
// modes with proxy preselected; the chosen mode shows on the service page;
// a mode the service cannot have is refused next to the field.
func TestServiceForwardingField(t *testing.T) {
	w := startWorld(t)
	p := newHTTP(t, w.base)
	p.mustLogin(w.provider.Token())
	_, form := p.get("/console/services/new")
	if !strings.Contains(form, `<option value="proxy" selected>`) || !strings.Contains(form, `<option value="nat">`) {
		t.Fatalf("the form lacks the forwarding choice with proxy preselected")
	}
	port := strconv.Itoa(testenv.FreePort(t))
	resp, _ := p.post("/console/services", url.Values{"csrf": {p.csrf}, "port": {port}, "forwarding": {"auto"},
		"backends": {w.zones[0] + "=127.0.0.1:" + port}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("forwarding auto: HTTP %d, want 303", resp.StatusCode)
	}
	if _, body := p.get(resp.Header.Get("Location")); !strings.Contains(body, `<dd class="forwarding">auto</dd>`) {
		t.Errorf("the service page does not show forwarding auto")
	}
	// The admin's host-network backends cannot be forwarded by the kernel.
	resp, body := p.post("/console/services", url.Values{"csrf": {p.csrf}, "port": {port}, "forwarding": {"nat"},
		"backends": {w.zones[0] + "=127.0.0.1:" + port}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "forwarding nat needs a service in a VPC") ||
		!strings.Contains(body, `name="forwarding" aria-invalid="true"`) {
		t.Errorf("nat on the host network: HTTP %d, want 400 with the message on the field\n%s", resp.StatusCode, body)
	}
}
