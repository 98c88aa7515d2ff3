package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestConsoleDualStack: the service form's dual-stack box makes a
// dualstack service, its page says so; an endpoint's page shows each
// zone's IPv6 address next to the IPv4 one.
func TestConsoleDualStack(t *testing.T) {
	w := startWorld(t)
	p := newHTTP(t, w.base)
	p.mustLogin(w.provider.Token())
	port := strconv.Itoa(testenv.FreePort(t))
	resp, body := p.post("/console/services", url.Values{"csrf": {p.csrf}, "description": {"v6 db"}, "port": {port},
		"backends": {w.zones[0] + "=127.0.0.1:" + port}, "autoAccept": {"on"}, "dualStack": {"on"}, "allowedAccounts": {w.consumerID}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create dual-stack service: HTTP %d\n%s", resp.StatusCode, body)
	}
	svcPage := resp.Header.Get("Location")
	if _, body = p.get(svcPage); !strings.Contains(body, "IPv4 and IPv6 (dualstack)") {
		t.Fatalf("service page does not say dual-stack:\n%s", body)
	}
	svcID := strings.TrimPrefix(svcPage, "/console/services/")
	svc, err := w.provider.GetService(bg, svcID)
	must(t, err)
	if svc.AddressIPVersion != model.AddressDualStack {
		t.Fatalf("stored %q", svc.AddressIPVersion)
	}

	c := w.consumer
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.8.0.0/16", Ipv6CidrBlock: "fd88::/56"})
	must(t, err)
	sw, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: w.zones[0], CidrBlock: "10.8.1.0/24", Ipv6CidrBlock: intp6(1)})
	must(t, err)
	sg, err := c.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: vpc.VpcID, Rules: []model.SecurityGroupRule{{PortRange: port, SourceCidr: "::/0"}}})
	must(t, err)
	ep, err := c.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: svcID, VpcID: vpc.VpcID, SecurityGroupIDs: []string{sg.SecurityGroupID},
		Zones: []api.EndpointZoneRequest{{ZoneID: w.zones[0], VSwitchID: sw.VSwitchID}}})
	must(t, err)
	h := newHTTP(t, w.base)
	h.mustLogin(c.Token())
	if _, body = h.get("/console/endpoints/" + ep.EndpointID); !strings.Contains(body, "IPv6 address") || !strings.Contains(body, "fd88:0:0:1::2") {
		t.Fatalf("endpoint page lacks the IPv6 address fd88:0:0:1::2:\n%s", body)
	}
	if _, body = h.get("/console/security-groups/" + sg.SecurityGroupID); !strings.Contains(body, "::/0") {
		t.Fatalf("security group page lacks the IPv6 rule:\n%s", body)
	}
}

func intp6(n int) *int { return &n }
