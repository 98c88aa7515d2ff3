package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/testenv"
	"golang.org/x/net/html"
)

// TestHTTP checks login, CSRF, escaping and form errors with a plain HTTP
// client against a real server.
func TestHTTP(t *testing.T) {
	w := startWorld(t)

	t.Run("pages require login", func(t *testing.T) {
		h := newHTTP(t, w.base)
		for _, p := range []string{"/console/", "/console/services", "/console/endpoints/new", "/console/vpcs", "/console/security-groups"} {
			resp, _ := h.get(p)
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/login") {
				t.Errorf("GET %s: HTTP %d Location %q, want a redirect to the login page", p, resp.StatusCode, loc)
			}
		}
		resp, _ := h.get("/console/services/epsrv-x")
		if loc := resp.Header.Get("Location"); loc != "/console/login?next="+url.QueryEscape("/console/services/epsrv-x") {
			t.Errorf("redirect keeps no next page: %q", loc)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		h := newHTTP(t, w.base)
		resp, body := h.login("plk_not-a-real-token")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "The token is not valid") {
			t.Fatalf("HTTP %d, want 401 with 'The token is not valid':\n%s", resp.StatusCode, body)
		}
		if strings.Contains(body, "plk_not-a-real-token") {
			t.Error("the login page echoes the submitted token")
		}
		if resp, _ := h.get("/console/services"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("a failed login opened a session (HTTP %d)", resp.StatusCode)
		}
	})

	t.Run("login without its CSRF token", func(t *testing.T) {
		h := newHTTP(t, w.base)
		resp, _ := h.post("/console/login", url.Values{"token": {w.consumer.Token()}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("HTTP %d, want 403", resp.StatusCode)
		}
	})

	t.Run("session cookie", func(t *testing.T) {
		h := newHTTP(t, w.base)
		resp, _ := h.login(w.consumer.Token())
		var c *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "privlink_session" {
				c = ck
			}
		}
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/console" {
			t.Fatalf("session cookie %+v, want HttpOnly, SameSite=Strict, Path=/console", c)
		}
		if strings.Contains(c.Value, w.consumer.Token()) {
			t.Fatal("the session cookie carries the token")
		}
	})

	t.Run("CSRF", func(t *testing.T) {
		h := newHTTP(t, w.base)
		h.mustLogin(w.consumer.Token())
		for name, tok := range map[string]string{"missing": "", "wrong": "x" + h.csrf[1:]} {
			form := url.Values{"name": {"csrf-" + name}, "cidr": {"10.0.0.0/16"}}
			if tok != "" {
				form.Set("csrf", tok)
			}
			resp, body := h.post("/console/vpcs", form)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF token") {
				t.Errorf("%s CSRF token: HTTP %d, want 403 with a message:\n%s", name, resp.StatusCode, body)
			}
		}
		vpcs, err := w.consumer.ListVPCs(bg)
		must(t, err)
		if len(vpcs) != 0 {
			t.Fatalf("a refused form created %d VPC(s)", len(vpcs))
		}
		resp, body := h.post("/console/vpcs", url.Values{"csrf": {h.csrf}, "name": {"ok"}, "cidr": {"10.0.0.0/16"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("with the CSRF token: HTTP %d\n%s", resp.StatusCode, body)
		}
		vpcs, err = w.consumer.ListVPCs(bg)
		must(t, err)
		if len(vpcs) != 1 {
			t.Fatalf("%d VPCs after a valid form, want 1", len(vpcs))
		}
		// another session's token is not good either
		other := newHTTP(t, w.base)
		other.mustLogin(w.consumer.Token())
		if resp, _ := h.post("/console/vpcs", url.Values{"csrf": {other.csrf}, "cidr": {"10.1.0.0/16"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("CSRF token of another session: HTTP %d, want 403", resp.StatusCode)
		}
	})

	t.Run("script in description is escaped", func(t *testing.T) {
		const evil = `<script>alert(1)</script>`
		svc := w.service(t, evil, true)
		h := newHTTP(t, w.base)
		h.mustLogin(w.provider.Token())
		for _, p := range []string{"/console/services", "/console/services/" + svc.ServiceID} {
			resp, body := h.get(p)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: HTTP %d", p, resp.StatusCode)
			}
			if strings.Contains(body, evil) || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Errorf("GET %s: description not escaped", p)
			}
			doc, err := html.Parse(strings.NewReader(body))
			must(t, err)
			var scripts []string
			var text bool
			var walk func(n *html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode && n.Data == "script" {
					src := ""
					for _, a := range n.Attr {
						if a.Key == "src" {
							src = a.Val
						}
					}
					scripts = append(scripts, src)
				}
				if n.Type == html.TextNode && strings.Contains(n.Data, evil) {
					text = true
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			if len(scripts) != 1 || !strings.HasPrefix(scripts[0], "/console/static/console.js") {
				t.Errorf("GET %s: script elements %q, want only console.js", p, scripts)
			}
			if !text {
				t.Errorf("GET %s: the description is not shown as text", p)
			}
		}
		// the consumer sees it escaped in the service search too
		c := newHTTP(t, w.base)
		c.mustLogin(w.consumer.Token())
		if _, body := c.get("/console/endpoints/new?serviceName=" + url.QueryEscape(svc.Name)); strings.Contains(body, evil) ||
			!strings.Contains(body, "&lt;script&gt;") {
			t.Error("service search result not escaped")
		}
	})

	t.Run("API errors next to the field, values kept", func(t *testing.T) {
		h := newHTTP(t, w.base)
		h.mustLogin(w.consumer.Token())
		resp, body := h.post("/console/vpcs", url.Values{"csrf": {h.csrf}, "name": {"keep-me"}, "cidr": {"10.0.0.1/8"}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("HTTP %d, want 400", resp.StatusCode)
		}
		i := strings.Index(body, `id="cidr"`)
		j := strings.Index(body, "has host bits set")
		if i < 0 || j < i || strings.Contains(body[i:j], "<label") {
			t.Errorf("the CIDR error is not next to the CIDR field:\n%s", body)
		}
		for _, want := range []string{`value="keep-me"`, `value="10.0.0.1/8"`, `aria-invalid="true"`} {
			if !strings.Contains(body, want) {
				t.Errorf("re-rendered form lacks %s", want)
			}
		}

		p := newHTTP(t, w.base)
		p.mustLogin(w.provider.Token())
		p.get("/console/services/new")
		resp, body = p.post("/console/services", url.Values{"csrf": {p.csrf}, "description": {"d1"}, "port": {"6001"},
			"backends": {"nowhere-z=192.168.1.10:6001"}, "autoAccept": {"on"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "is not a zone of region") {
			t.Fatalf("bad zone: HTTP %d\n%s", resp.StatusCode, body)
		}
		if !strings.Contains(body, `aria-invalid="true">nowhere-z=192.168.1.10:6001</textarea>`) || !strings.Contains(body, `value="d1"`) {
			t.Errorf("backends error not on the backends field, or values lost:\n%s", body)
		}
		resp, body = p.post("/console/services", url.Values{"csrf": {p.csrf}, "port": {"6001"}, "backends": {"garbage"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "must look like ZONE=IP:PORT") {
			t.Errorf("unparsable backend: HTTP %d", resp.StatusCode)
		}
		for _, tc := range []struct{ field, value, msg string }{
			{"maxConnections", "-3", "maxConnectionsPerEndpoint must be 0"},
			{"newConnectionsPerSecond", "many", "enter a whole number"},
		} {
			resp, body = p.post("/console/services", url.Values{"csrf": {p.csrf}, "port": {"6001"}, "backends": {"cn-hangzhou-h=127.0.0.1:6001"}, tc.field: {tc.value}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tc.msg) ||
				!strings.Contains(body, `name="`+tc.field+`" inputmode="numeric" value="`+tc.value+`" aria-invalid="true"`) {
				t.Errorf("%s=%s: HTTP %d, want 400 with %q on the field\n%s", tc.field, tc.value, resp.StatusCode, tc.msg, body)
			}
		}
	})

	t.Run("PROXY header TLVs chosen in the form", func(t *testing.T) {
		p := newHTTP(t, w.base)
		p.mustLogin(w.provider.Token())
		_, form := p.get("/console/services/new")
		if !strings.Contains(form, `<option value="vpcId,endpointId" selected>`) {
			t.Errorf("the new-service form does not preselect the default TLVs")
		}
		port := strconv.Itoa(testenv.FreePort(t))
		for _, tc := range []struct{ choice, shown string }{
			{"endpointId", `TLVs: <span class="mono">endpointId</span>`},
			{"none", "v2, TLVs: none"},
		} {
			resp, _ := p.post("/console/services", url.Values{"csrf": {p.csrf}, "port": {port}, "proxyProtocol": {"on"},
				"proxyTlvs": {tc.choice}, "backends": {w.zones[0] + "=127.0.0.1:" + port}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s: HTTP %d, want 303 to the new service", tc.choice, resp.StatusCode)
			}
			if _, body := p.get(resp.Header.Get("Location")); !strings.Contains(body, tc.shown) {
				t.Errorf("%s: the service page does not show %q", tc.choice, tc.shown)
			}
		}
	})

	t.Run("UDP ports in the service form", func(t *testing.T) {
		p := newHTTP(t, w.base)
		p.mustLogin(w.provider.Token())
		p.get("/console/services/new")
		port := strconv.Itoa(testenv.FreePort(t))
		resp, _ := p.post("/console/services", url.Values{"csrf": {p.csrf}, "port": {port + "/udp, " + port},
			"backends": {w.zones[0] + "=127.0.0.1"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("HTTP %d, want 303 to the new service", resp.StatusCode)
		}
		if _, body := p.get(resp.Header.Get("Location")); !strings.Contains(body, port+" "+port+"/udp") {
			t.Errorf("the service page does not show %s and %s/udp", port, port)
		}
		resp, body := p.post("/console/services", url.Values{"csrf": {p.csrf}, "port": {port + "/sctp"}, "backends": {w.zones[0] + "=127.0.0.1"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "tcp or udp") {
			t.Errorf("port/sctp: HTTP %d, want 400 naming tcp or udp", resp.StatusCode)
		}
	})

	t.Run("failed endpoint form leaves nothing behind", func(t *testing.T) {
		svc := w.service(t, "cleanup", true)
		vpcA, _ := w.consumerNet(t, "10.40.0.0/16")
		_, vswsB := w.consumerNet(t, "10.41.0.0/16")
		before, err := w.consumer.ListSecurityGroups(bg, client.Filter{})
		must(t, err)
		h := newHTTP(t, w.base)
		h.mustLogin(w.consumer.Token())
		h.get("/console/endpoints/new?service=" + svc.ServiceID)
		// a vSwitch of another VPC: the API refuses after the console made the security group
		resp, body := h.post("/console/endpoints", url.Values{"csrf": {h.csrf}, "service": {svc.ServiceID}, "vpcId": {vpcA.VpcID},
			"securityGroup": {"new"}, "name": {"kept-name"}, "zone." + w.zones[0]: {vswsB[0].VSwitchID}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "belongs to") || !strings.Contains(body, `value="kept-name"`) {
			t.Fatalf("HTTP %d, want 400 with the vSwitch error and the values kept:\n%s", resp.StatusCode, body)
		}
		i, j := strings.Index(body, `id="zones"`), strings.Index(body, "belongs to")
		if i < 0 || j < i {
			t.Error("the vSwitch error is not in the zones fieldset")
		}
		after, err := w.consumer.ListSecurityGroups(bg, client.Filter{})
		must(t, err)
		if len(after) != len(before) {
			t.Errorf("%d security groups before, %d after a failed form", len(before), len(after))
		}
		resp, body = h.post("/console/endpoints", url.Values{"csrf": {h.csrf}, "service": {svc.ServiceID}, "vpcId": {vpcA.VpcID}, "securityGroup": {"new"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "choose a vSwitch in at least one zone") {
			t.Errorf("no zone: HTTP %d", resp.StatusCode)
		}
	})

	t.Run("logout", func(t *testing.T) {
		h := newHTTP(t, w.base)
		h.mustLogin(w.consumer.Token())
		resp, _ := h.post("/console/logout", url.Values{"csrf": {h.csrf}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: HTTP %d", resp.StatusCode)
		}
		if resp, _ := h.get("/console/vpcs"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("still logged in after logout (HTTP %d)", resp.StatusCode)
		}
	})

	t.Run("static assets and headers", func(t *testing.T) {
		h := newHTTP(t, w.base)
		resp, body := h.get("/console/login")
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("CSP %q", csp)
		}
		if !strings.Contains(body, "<title>") || !strings.Contains(body, "<h1>") {
			t.Error("login page without title or h1")
		}
		for _, p := range []string{"/console/static/console.css", "/console/static/console.js"} {
			if resp, _ := h.get(p); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: HTTP %d", p, resp.StatusCode)
			}
		}
	})
}
