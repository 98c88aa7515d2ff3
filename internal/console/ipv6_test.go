package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestConsoleIPv6: the VPC form makes a dual-stack VPC (privlink's /56 or
// the user's), the vSwitch form takes a /64 number or auto, the pages show
// the IPv6 CIDR blocks, and bad IPv6 input is shown next to its field.
func TestConsoleIPv6(t *testing.T) {
	w := startWorld(t)
	h := newHTTP(t, w.base)
	h.mustLogin(w.consumer.Token())

	resp, body := h.post("/console/vpcs", url.Values{"csrf": {h.csrf}, "cidr": {"10.5.0.0/16"}, "ipv6Cidr": {"2001:db8::/56"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unique local") || !strings.Contains(body, `id="ipv6Cidr" name="ipv6Cidr" value="2001:db8::/56"`) {
		t.Fatalf("global /56: HTTP %d, want 400 with the message by the field:\n%s", resp.StatusCode, body)
	}
	resp, body = h.post("/console/vpcs", url.Values{"csrf": {h.csrf}, "cidr": {"10.5.0.0/16"}, "ipv6Cidr": {"fd12:3456:789a::/56"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("own /56: HTTP %d\n%s", resp.StatusCode, body)
	}
	vpcPage := resp.Header.Get("Location")
	if _, body = h.get(vpcPage); !strings.Contains(body, "fd12:3456:789a::/56") || !strings.Contains(body, `name="ipv6Index"`) {
		t.Fatalf("VPC page lacks the IPv6 block or the vSwitch IPv6 field:\n%s", body)
	}
	resp, body = h.post(strings.TrimSuffix(vpcPage, "#vswitches")+"/vswitches", url.Values{"csrf": {h.csrf}, "zoneId": {w.zones[0]}, "cidr": {"10.5.3.0/24"}, "ipv6Index": {"3"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("vSwitch /64 3: HTTP %d\n%s", resp.StatusCode, body)
	}
	resp, body = h.post(vpcPage+"/vswitches", url.Values{"csrf": {h.csrf}, "zoneId": {w.zones[0]}, "cidr": {"10.5.4.0/24"}, "ipv6Index": {"3"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already vSwitch") {
		t.Fatalf("taken /64: HTTP %d\n%s", resp.StatusCode, body)
	}
	resp, body = h.post(vpcPage+"/vswitches", url.Values{"csrf": {h.csrf}, "zoneId": {w.zones[0]}, "cidr": {"10.5.4.0/24"}, "ipv6Index": {"three"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "enter the /64 number") {
		t.Fatalf("bad /64 number: HTTP %d\n%s", resp.StatusCode, body)
	}
	if _, body = h.get(vpcPage); !strings.Contains(body, "fd12:3456:789a:3::/64") {
		t.Fatalf("vSwitch table lacks its /64:\n%s", body)
	}
	resp, _ = h.post("/console/vpcs", url.Values{"csrf": {h.csrf}, "cidr": {"10.6.0.0/16"}, "enableIpv6": {"on"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("auto /56: HTTP %d", resp.StatusCode)
	}
	if _, body = h.get("/console/vpcs"); !strings.Contains(body, "IPv6 CIDR block") || !strings.Contains(body, "fd12:3456:789a::/56") {
		t.Fatalf("VPC list lacks the IPv6 column:\n%s", body)
	}
}
