package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// serveSource runs a backend that answers each line with "<name> <the
// connection's source address>": what the provider sees.
func serveSource(t *testing.T, e *testenv.Env, hostID string, port uint16, name string) {
	t.Helper()
	e.Serve(t, hostID, port, func(c net.Conn) {
		r := bufio.NewReader(c)
		src := c.RemoteAddr().(*net.TCPAddr).IP.String()
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			if _, err := io.WriteString(c, name+" "+src+"\n"); err != nil {
				return
			}
		}
	})
}

// natScenario builds the canonical scenario (overlapping CIDRs on both
// sides) with a nat service, backends answering with their name and the
// source they see, and waits until the endpoint is Active.
func natScenario(t *testing.T, e *testenv.Env, o testenv.ScenarioOptions) (*testenv.Scenario, model.Endpoint) {
	t.Helper()
	if o.Forwarding == "" {
		o.Forwarding = model.ForwardNAT
	}
	s := testenv.BuildScenarioServing(t, e, o, func(s *testenv.Scenario) {
		for _, h := range s.ProviderHosts {
			serveSource(t, e, h.HostID, 6001, "db-"+h.ZoneID)
		}
	})
	if o.NoEndpoint {
		return s, model.Endpoint{}
	}
	return s, s.WaitEndpoint(t, testenv.Active)
}

// resolveIn resolves name with the consumer VPC's resolver, from inside a host.
func resolveIn(t *testing.T, e *testenv.Env, hostID, vpcID, name string) (string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return e.Driver.Sockets.DialHost(ctx, hostID, e.Driver.Sockets.ResolverAddr(vpcID))
	}}
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, name)
	if err != nil || len(addrs) == 0 {
		return "", fmt.Errorf("resolve %s: %v", name, err)
	}
	return addrs[0], nil
}

// TestNATForwarding: a nat service's endpoint serves through its domain
// and each zone's ENI across overlapping CIDRs, with no proxy listener;
// the backend sees the endpoint's stable SNAT source (the one the
// connections API shows); the connection shows in the metrics.
func TestNATForwarding(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s, ep := natScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	conns, err := s.Provider.ListConnections(bg, s.Service.ServiceID)
	must(t, err)
	if len(conns) != 1 || len(conns[0].Zones) != 2 {
		t.Fatalf("connections: %+v", conns)
	}
	snat := map[string]string{} // ENI -> SNAT source, as the provider is shown
	for _, z := range conns[0].Zones {
		if !model.SNATPool.Contains(z.SnatIP) {
			t.Fatalf("zone %s: SNAT %v", z.ZoneID, z.SnatIP)
		}
		snat[z.IP.String()] = z.SnatIP.String()
	}
	want := func(addr string) error {
		got, err := hello(t, e, s.ConsumerHost.HostID, addr)
		eni, _, _ := strings.Cut(addr, ":")
		if err == nil && !(strings.HasPrefix(got, "db-") && strings.HasSuffix(got, " "+snat[eni])) {
			err = fmt.Errorf("answer %q, want db-<zone> %s", got, snat[eni])
		}
		return err
	}
	testenv.Eventually(t, "endpoint domain", func() error {
		ip, err := resolveIn(t, e, s.ConsumerHost.HostID, s.ConsumerVPC.VpcID, ep.EndpointDomain)
		if err != nil {
			return err
		}
		return want(ip + ":6001")
	})
	for _, z := range ep.Zones {
		testenv.Eventually(t, "via "+z.ZoneID, func() error { return want(z.IP.String() + ":6001") })
	}
	// No proxy listener: nothing listens on the ENI in the consumer router.
	out, _ := exec.Command("ip", "netns", "exec", e.Prefix+"-"+s.ConsumerVPC.VpcID, "ss", "-Htln").CombinedOutput()
	if strings.Contains(string(out), ep.Zones[0].IP.String()+":6001") {
		t.Errorf("a proxy listener serves the nat endpoint:\n%s", out)
	}
	testenv.Eventually(t, "metrics", func() error {
		m := scrape(t, e)
		if !strings.Contains(m, `privlink_proxy_connections_total{endpoint_id="`+ep.EndpointID) {
			return fmt.Errorf("no connections_total series for %s:\n%s", ep.EndpointID, grepLines(m, "connections_total"))
		}
		return nil
	})
}
