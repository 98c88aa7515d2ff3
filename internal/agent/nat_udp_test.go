package agent_test

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/testenv"
)

// A nat service with UDP ports: its TCP port goes through the kernel NAT
// pair (no proxy listener on the ENI; the backend sees the zone's SNAT
// source), its UDP port through the proxy's flow table (a UDP socket on
// the ENI answers). docs/forwarding.md says so.
func TestNATServiceUDPPortsUseProxy(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s, ep := natScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, UDPPorts: []int{7}})
	conns, err := s.Provider.ListConnections(bg, s.Service.ServiceID)
	must(t, err)
	snat := map[string]string{}
	for _, z := range conns[0].Zones {
		snat[z.IP.String()] = z.SnatIP.String()
	}
	for _, h := range s.ProviderHosts {
		serveEcho(t, e, h.HostID, h.Name)
	}
	z := ep.Zones[0]
	testenv.Eventually(t, "tcp through nat", func() error {
		got, err := hello(t, e, s.ConsumerHost.HostID, z.IP.String()+":6001")
		if err == nil && !strings.HasSuffix(got, " "+snat[z.IP.String()]) {
			err = fmt.Errorf("answer %q, want the SNAT source %s", got, snat[z.IP.String()])
		}
		return err
	})
	c := udpFrom(t, e, s.ConsumerHost.HostID)
	testenv.Eventually(t, "udp through the proxy", func() error {
		_, err := udpAsk(c, netip.AddrPortFrom(z.IP, 7), "hi")
		return err
	})
	ns := e.Prefix + "-" + s.ConsumerVPC.VpcID
	tcp, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-Htln").CombinedOutput()
	if strings.Contains(string(tcp), z.IP.String()+":6001") {
		t.Errorf("a proxy TCP listener serves the nat service's TCP port:\n%s", tcp)
	}
	udp, _ := exec.Command("ip", "netns", "exec", ns, "ss", "-Hulpn").CombinedOutput()
	if !strings.Contains(string(udp), z.IP.String()+":7") {
		t.Errorf("no proxy UDP socket on %s:7 in the consumer VPC:\n%s", z.IP, udp)
	}
}
