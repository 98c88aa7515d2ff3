package resolver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/resolver"
	"github.com/privlink/privlink/internal/testenv"
)

// lookupA asks the VPC resolver at addr for name's A records with a real
// DNS client over UDP; a name without answer gives none (its rcode too).
func lookupA(t *testing.T, addr netip.AddrPort, name string) ([]string, int) {
	t.Helper()
	out, rcode, err := tryLookupA(addr, name)
	if err != nil {
		t.Fatal(err)
	}
	return out, rcode
}

func tryLookupA(addr netip.AddrPort, name string) ([]string, int, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	c := &mdns.Client{Net: "udp", Timeout: time.Second}
	r, _, err := c.Exchange(m, addr.String())
	if err != nil {
		return nil, 0, fmt.Errorf("query %s at %s: %w", name, addr, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out, r.Rcode, nil
}

// TestZoneWithoutReadyNodeLeavesDNS: in a region of nodes, an endpoint
// zone whose placement's node is lost (its lease expires) and that has no
// other ready node drops out of the endpoint domain's answer and its zonal
// domain stops answering, so clients use the other zone; when a node of
// the zone registers, the placement moves there, the node reports, and
// the zone is back in the answer. The nodes are the test's (real leases on
// their own etcd clients); the controller is the server's; the answers
// come from the real resolver and DNS server over UDP.
func TestZoneWithoutReadyNodeLeavesDNS(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: netdrv.Loopback, AgentZones: []string{}})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, NoEndpoint: true})
	h, i := s.ConsumerVSwitches[0].ZoneID, s.ConsumerVSwitches[1].ZoneID
	n1 := testenv.StartTestNode(t, e, "n1", h, testenv.TestNodeOptions{TTL: 2 * time.Second})
	testenv.StartTestNode(t, e, "n3", i, testenv.TestNodeOptions{})
	var zones []api.EndpointZoneRequest
	for _, v := range s.ConsumerVSwitches {
		zones = append(zones, api.EndpointZoneRequest{ZoneID: v.ZoneID, VSwitchID: v.VSwitchID})
	}
	ep, err := s.Consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: s.Service.ServiceID, VpcID: s.ConsumerVPC.VpcID,
		SecurityGroupIDs: []string{s.SG.SecurityGroupID}, Zones: zones})
	must(t, err)

	// The VPC's resolver, as the nodes' processes run it.
	drv, err := netdrv.New(netdrv.Loopback, "", slog.Default())
	must(t, err)
	srv, err := dns.New(dns.Config{Zone: "cn-hangzhou.privatelink.internal", Logger: slog.Default()})
	must(t, err)
	r := resolver.New(resolver.Config{Cache: e.Cache, Sockets: drv.Sockets, DNS: srv, Logger: slog.Default(), Zones: []string{h, i}})
	must(t, drv.Topology.EnsureVPC(s.ConsumerVPC.VpcID))
	ctx, cancel := context.WithCancel(bg)
	go r.Run(ctx)
	t.Cleanup(func() { cancel(); <-r.Done(); srv.Close(); _ = drv.Topology.Cleanup() })
	addr := drv.Sockets.ResolverAddr(s.ConsumerVPC.VpcID)

	ipOf := map[string]string{}
	domainOf := map[string]string{}
	for _, z := range ep.Zones {
		ipOf[z.ZoneID] = drv.Sockets.MapAddr(s.ConsumerVPC.VpcID, z.IP).String()
		domainOf[z.ZoneID] = z.ZoneDomain
	}
	both := []string{ipOf[h], ipOf[i]}
	slices.Sort(both)
	answers := func(want []string) func() error {
		return func() error {
			got, _, err := tryLookupA(addr, ep.EndpointDomain)
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("%s = %v, want %v", ep.EndpointDomain, got, want)
			}
			return nil
		}
	}
	testenv.Eventually(t, "both zones in the answer", answers(both))
	if got, _ := lookupA(t, addr, domainOf[h]); !slices.Equal(got, []string{ipOf[h]}) {
		t.Fatalf("zonal domain of %s = %v", h, got)
	}

	// Zone h's only node dies: the zone leaves the answer.
	n1.Kill()
	killed := time.Now()
	testenv.Eventually(t, "zone h out of the answer", answers([]string{ipOf[i]}))
	t.Logf("zone h left the DNS answer %s after its only node died (lease TTL 2s)", time.Since(killed).Round(time.Millisecond))
	if got, rcode := lookupA(t, addr, domainOf[h]); len(got) != 0 {
		t.Errorf("zonal domain of a zone without ready node answers %v (rcode %d)", got, rcode)
	}

	// A node of zone h registers: the ENI is placed on it and the zone is back.
	testenv.StartTestNode(t, e, "n2", h, testenv.TestNodeOptions{})
	testenv.Eventually(t, "zone h back in the answer", answers(both))
	if got, _ := lookupA(t, addr, domainOf[h]); !slices.Equal(got, []string{ipOf[h]}) {
		t.Errorf("zonal domain of %s after a node registered = %v", h, got)
	}
	if p := e.Cache.State().Placement(ep.EndpointID, h); p == nil || p.Node != "n2" || p.Moves != 1 {
		t.Errorf("placement after the move: %+v", p)
	}
}
