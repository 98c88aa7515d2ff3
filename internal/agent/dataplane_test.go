package agent_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestOverlappingVPCs: consumer and provider VPCs share 192.168.0.0/16; the
// consumer reaches the provider only through the endpoint IPs of both zones,
// and neither side can reach the other directly.
func TestOverlappingVPCs(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for i, h := range s.ProviderHosts {
		serveHello(t, e, h.HostID, 6001, fmt.Sprintf("backend-%d", i))
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	for _, z := range ep.Zones {
		testenv.Eventually(t, "hello via "+z.ZoneID, func() error {
			got, err := hello(t, e, s.ConsumerHost.HostID, z.IP.String()+":6001")
			if err == nil && !strings.HasPrefix(got, "backend-") {
				err = fmt.Errorf("answer %q", got)
			}
			return err
		})
	}
	// A provider host on an address the consumer VPC does not use.
	pv, err := s.Provider.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: s.ProviderVPC.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "192.168.50.0/24"})
	must(t, err)
	ph, err := s.Provider.CreateHost(bg, api.CreateHostRequest{VSwitchID: pv.VSwitchID, IP: "192.168.50.10"})
	must(t, err)
	testenv.Eventually(t, "provider host up", func() error {
		ln, err := e.Driver.Sockets.ListenHost(ph.HostID, mustAP("0.0.0.0:7000"))
		if err == nil {
			ln.Close()
		}
		return err
	})
	serveHello(t, e, ph.HostID, 7001, "provider")
	if _, err := hello(t, e, s.ConsumerHost.HostID, "192.168.50.10:7001"); err == nil {
		t.Error("consumer host reached the provider's host address directly")
	}
	// And the provider cannot reach the consumer's host or ENI.
	ch, err := s.Consumer.CreateHost(bg, api.CreateHostRequest{VSwitchID: s.ConsumerVSwitches[0].VSwitchID, IP: "192.168.1.77"})
	must(t, err)
	testenv.Eventually(t, "consumer host up", func() error {
		ln, err := e.Driver.Sockets.ListenHost(ch.HostID, mustAP("0.0.0.0:7002"))
		if err == nil {
			ln.Close()
		}
		return err
	})
	serveHello(t, e, ch.HostID, 7003, "consumer")
	for _, addr := range []string{"192.168.1.77:7003", ep.Zones[0].IP.String() + ":6001"} {
		if got, err := hello(t, e, ph.HostID, addr); err == nil {
			t.Errorf("provider host reached consumer address %s: %q", addr, got)
		}
	}
}

// TestSecurityGroup: the allowed source works; another source and another
// port are dropped.
func TestSecurityGroup(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, NoSGRule: true, NoEndpoint: true})
	// The service gets a second port; the SG allows 6001 from zone h's vSwitch only.
	svc, err := s.Provider.CreateService(bg, api.CreateServiceRequest{VpcID: s.ProviderVPC.VpcID, Ports: []int{6001, 6002},
		Resources: []api.BackendSpec{{ZoneID: "cn-hangzhou-h", IP: s.ProviderHosts[0].IP.String()}}, AutoAcceptEnabled: true, AllowedAccounts: []string{s.ConsumerID}})
	must(t, err)
	_, err = s.Consumer.AuthorizeSecurityGroup(bg, s.SG.SecurityGroupID, api.RulesRequest{Rules: []model.SecurityGroupRule{
		{PortRange: "6001/6001", SourceCidr: "192.168.1.0/24"},
	}})
	must(t, err)
	other, err := s.Consumer.CreateHost(bg, api.CreateHostRequest{VSwitchID: s.ConsumerVSwitches[1].VSwitchID})
	must(t, err)
	ep, err := s.Consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: svc.ServiceID, VpcID: s.ConsumerVPC.VpcID,
		SecurityGroupIDs: []string{s.SG.SecurityGroupID}, Zones: []api.EndpointZoneRequest{{ZoneID: "cn-hangzhou-h", VSwitchID: s.ConsumerVSwitches[0].VSwitchID}}})
	must(t, err)
	serveHello(t, e, s.ProviderHosts[0].HostID, 6001, "p6001")
	serveHello(t, e, s.ProviderHosts[0].HostID, 6002, "p6002")
	ip := ep.Zones[0].IP.String()
	testenv.Eventually(t, "allowed source", func() error {
		_, err := hello(t, e, s.ConsumerHost.HostID, ip+":6001")
		return err
	})
	if got, err := hello(t, e, other.HostID, ip+":6001"); err == nil {
		t.Errorf("source %s outside the allowed CIDR got through: %q", other.IP, got)
	}
	if got, err := hello(t, e, s.ConsumerHost.HostID, ip+":6002"); err == nil {
		t.Errorf("port 6002 (no rule) got through: %q", got)
	}
	// The drops are counted per endpoint on the server's /metrics.
	if m := scrape(t, e); !strings.Contains(m, `privlink_proxy_sg_drops_total{endpoint_id="`+ep.EndpointID) {
		t.Errorf("/metrics has no security-group drops for %s", ep.EndpointID)
	}
	// Adding a rule for the other source opens it without recreating anything.
	_, err = s.Consumer.AuthorizeSecurityGroup(bg, s.SG.SecurityGroupID, api.RulesRequest{Rules: []model.SecurityGroupRule{
		{PortRange: "6001/6002", SourceCidr: other.IP.String() + "/32"},
	}})
	must(t, err)
	testenv.Eventually(t, "newly allowed source", func() error {
		_, err := hello(t, e, other.HostID, ip+":6002")
		return err
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestBackendHealth: the provider sees each backend's health as the zone
// agents check it.
func TestBackendHealth(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	serveHello(t, e, s.ProviderHosts[0].HostID, 6001, "up") // the zone-i backend stays down
	s.WaitEndpoint(t, testenv.Active)
	testenv.Eventually(t, "backend health", func() error {
		svc, err := s.Provider.GetService(bg, s.Service.ServiceID)
		must(t, err)
		if svc.Resources[0].Health != "Healthy" || svc.Resources[1].Health != "Unhealthy" {
			return fmt.Errorf("health %q %q", svc.Resources[0].Health, svc.Resources[1].Health)
		}
		return nil
	})
	// Consumers see no backends at all.
	svc, err := s.Consumer.GetService(bg, s.Service.ServiceID)
	must(t, err)
	if len(svc.Resources) != 0 {
		t.Errorf("consumer sees backends %+v", svc.Resources)
	}
}
