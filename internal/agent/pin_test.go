package agent_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/testenv"
)

// TestPinnedZoneResource: with zone affinity off, an endpoint zone reaches
// the backends of both zones; pinned by the provider to the backend of its
// own zone, it reaches only that one; unpinned, both again.
func TestPinnedZoneResource(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	if len(s.ProviderHosts) < 2 {
		t.Skip("needs two zones")
	}
	for i, h := range s.ProviderHosts {
		serveHello(t, e, h.HostID, 6001, fmt.Sprintf("backend-%d", i))
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	z := ep.Zones[0]
	addr := z.IP.String() + ":6001"
	var own string // the backend in the pinned zone
	for i, h := range s.ProviderHosts {
		if h.ZoneID == z.ZoneID {
			own = fmt.Sprintf("backend-%d", i)
		}
	}
	// answers makes n connections through the zone and counts the answers.
	answers := func(n int) map[string]int {
		seen := map[string]int{}
		for range n {
			a, err := hello(t, e, s.ConsumerHost.HostID, addr)
			if err != nil {
				seen["error: "+err.Error()]++
				continue
			}
			seen[strings.TrimSuffix(a, " hi")]++
		}
		return seen
	}
	both := func() error {
		if seen := answers(8); len(seen) != 2 || seen[own] == 0 {
			return fmt.Errorf("answers %v, want both backends", seen)
		}
		return nil
	}
	testenv.Eventually(t, "both zones' backends serve the zone", both)

	var ownIP netip.Addr
	for _, h := range s.ProviderHosts {
		if h.ZoneID == z.ZoneID {
			ownIP = h.IP
		}
	}
	rid := netip.AddrPortFrom(ownIP, 6001).String()
	conn, err := s.Provider.PinZoneResource(bg, s.Service.ServiceID, ep.EndpointID, z.ZoneID, rid)
	must(t, err)
	if conn.Zones[0].ResourceID != rid || len(conn.Zones[0].ResourceBackends) != 1 {
		t.Fatalf("pinned zone: %+v", conn.Zones[0])
	}
	testenv.Eventually(t, "only the pinned backend serves the zone", func() error {
		if seen := answers(8); len(seen) != 1 || seen[own] != 8 {
			return fmt.Errorf("answers %v, want only %s", seen, own)
		}
		return nil
	})
	_, err = s.Provider.PinZoneResource(bg, s.Service.ServiceID, ep.EndpointID, z.ZoneID, "")
	must(t, err)
	testenv.Eventually(t, "unpinned, both serve again", both)
}
