package agent_test

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/testenv"
)

// TestDataPlaneLimits: with a small descriptor budget (200: 100
// connections, 25 per endpoint), a connection flood on endpoint A takes
// A's share and no more; endpoint B still connects and the API still
// answers. Then the provider sets maxConnectionsPerEndpoint on the service
// and A admits that many.
func TestDataPlaneLimits(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Server: func(c *server.Config) { c.ProxyFDs = 200 }})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for _, h := range s.ProviderHosts {
		serveHello(t, e, h.HostID, 6001, "db")
	}
	z := s.ConsumerVSwitches[0]
	b, err := s.Consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: s.Service.ServiceID, VpcID: s.ConsumerVPC.VpcID,
		SecurityGroupIDs: []string{s.SG.SecurityGroupID}, Zones: []api.EndpointZoneRequest{{ZoneID: z.ZoneID, VSwitchID: z.VSwitchID}}})
	must(t, err)
	a := s.WaitEndpoint(t, testenv.Active)
	addrA := a.Zones[0].IP.String() + ":6001"
	addrB := b.Zones[0].IP.String() + ":6001"
	testenv.Eventually(t, "endpoint B carries traffic", func() error { _, err := hello(t, e, s.ConsumerHost.HostID, addrB); return err })

	// flood opens n connections to addr and keeps those that carry traffic.
	flood := func(addr string, n int) (held []net.Conn) {
		for range n {
			c, err := dialFrom(t, e, s.ConsumerHost.HostID, addr)
			if err != nil {
				continue
			}
			if err := ping(c, bufio.NewReader(c)); err != nil {
				c.Close()
				continue
			}
			held = append(held, c)
		}
		return held
	}
	closeAll := func(cs []net.Conn) {
		for _, c := range cs {
			c.Close()
		}
	}
	held := flood(addrA, 40)
	t.Cleanup(func() { closeAll(held) })
	if len(held) != 25 {
		t.Errorf("flood on endpoint A: %d of 40 connections admitted, want its share 25", len(held))
	}
	if got, err := hello(t, e, s.ConsumerHost.HostID, addrB); err != nil {
		t.Errorf("endpoint B during the flood on A: %v (%q)", err, got)
	}
	if _, err := s.Consumer.GetEndpoint(bg, a.EndpointID); err != nil {
		t.Errorf("API during the flood: %v", err)
	}
	if got := rejectedTotal(t, e, a.EndpointID, a.Zones[0].ZoneID, "fd_budget"); got != 40-len(held) {
		t.Errorf("rejected{reason=fd_budget} = %d, want %d", got, 40-len(held))
	}
	closeAll(held)
	held = nil

	_, err = s.Provider.UpdateService(bg, s.Service.ServiceID, api.UpdateServiceRequest{MaxConnsPerEndpoint: ptr(3)})
	must(t, err)
	testenv.Eventually(t, "the service's limit reaches the agent", func() error {
		held = flood(addrA, 5)
		defer func() { closeAll(held); held = nil }()
		if len(held) != 3 {
			return fmt.Errorf("%d of 5 connections admitted, want 3", len(held))
		}
		return nil
	})
	if got := rejectedTotal(t, e, a.EndpointID, a.Zones[0].ZoneID, "conn_limit"); got < 2 {
		t.Errorf("rejected{reason=conn_limit} = %d, want >= 2", got)
	}
	svc, err := s.Provider.GetService(bg, s.Service.ServiceID)
	must(t, err)
	if svc.MaxConnsPerEndpoint != 3 {
		t.Errorf("service reads back maxConnectionsPerEndpoint %d, want 3", svc.MaxConnsPerEndpoint)
	}
}

func ptr[T any](v T) *T { return &v }

// rejectedTotal reads privlink_proxy_rejected_total of an endpoint zone.
func rejectedTotal(t *testing.T, e *testenv.Env, ep, zone, reason string) int {
	t.Helper()
	re := regexp.MustCompile(`privlink_proxy_rejected_total\{endpoint_id="` + ep + `",reason="` + reason + `",zone_id="` + zone + `"\} (\d+)`)
	m := re.FindStringSubmatch(scrape(t, e))
	if m == nil {
		t.Fatalf("no privlink_proxy_rejected_total for %s %s %s", ep, zone, reason)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
