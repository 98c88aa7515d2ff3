package apiserver_test

import (
	"net/netip"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/testenv"
)

// TestZoneResourcePin: the provider pins an endpoint zone to one of the
// service's resources in that zone, a load balancer (its backends in the
// zone are stored) or a backend; not a resource of another zone or of no
// one, not a zone the endpoint lacks, not as the consumer; a refused pin
// changes nothing.
func TestZoneResourcePin(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16203})
	h0, h1 := s.ProviderHosts[0], s.ProviderHosts[1]
	svc, ep := s.Service.ServiceID, s.Endpoint.EndpointID
	lb, err := s.Provider.CreateLoadBalancer(bg, api.CreateLoadBalancerRequest{VpcID: s.ProviderVPC.VpcID, Ports: []int{16203},
		Backends: []api.BackendSpec{{ZoneID: h0.ZoneID, IP: h0.IP.String()}, {ZoneID: h1.ZoneID, IP: h1.IP.String()}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Provider.AttachServiceLoadBalancer(bg, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: lb.LoadBalancerID}); err != nil {
		t.Fatal(err)
	}
	h0ID := netip.AddrPortFrom(h0.IP, 16203).String()
	h1ID := netip.AddrPortFrom(h1.IP, 16203).String()
	for _, tc := range []struct {
		name, zone, rid string
		consumer        bool
		code            string
		wantIP          netip.Addr // the one pinned backend when it succeeds
	}{
		{"load balancer", h0.ZoneID, lb.LoadBalancerID, false, "", h0.IP},
		{"backend", h0.ZoneID, h0ID, false, "", h0.IP},
		{"backend of the other zone", h0.ZoneID, h1ID, false, "ResourceNotFound", h0.IP},
		{"load balancer not attached", h0.ZoneID, "nlb-aaaaaaaaaaaaaaaaaaaa", false, "ResourceNotFound", h0.IP},
		{"not a resource ID", h0.ZoneID, "db:x", false, "InvalidParameter.ResourceId", h0.IP},
		{"zone the endpoint lacks", "cn-nowhere-z", h0ID, false, "EndpointZoneNotFound", h0.IP},
		{"as the consumer", h0.ZoneID, h0ID, true, "EndpointServiceNotFound", h0.IP},
		{"other zone's own backend", h1.ZoneID, h1ID, false, "", h1.IP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.Provider
			if tc.consumer {
				c = s.Consumer
			}
			_, err := c.PinZoneResource(bg, svc, ep, tc.zone, tc.rid)
			if tc.code != "" {
				wantCode(t, err, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Consumer.GetEndpoint(bg, ep)
			if err != nil {
				t.Fatal(err)
			}
			for _, z := range got.Zones {
				if z.ZoneID != tc.zone {
					continue
				}
				if z.ResourceID != tc.rid || len(z.ResourceBackends) != 1 || z.ResourceBackends[0].IP != tc.wantIP {
					t.Fatalf("zone %s: pinned %q to %+v, want %q to %s", z.ZoneID, z.ResourceID, z.ResourceBackends, tc.rid, tc.wantIP)
				}
			}
		})
	}
	// The refusals left zone 0 pinned to its backend.
	got, err := s.Consumer.GetEndpoint(bg, ep)
	if err != nil || got.Zones[0].ResourceID != h0ID {
		t.Fatalf("after refusals: %+v %v", got.Zones, err)
	}
}
