package apiserver_test

import (
	"errors"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestConnectionBandwidth: the provider sets one endpoint's bandwidth cap;
// the connection list shows it; the consumer cannot set it; bad values and
// endpoints of other services are refused.
func TestConnectionBandwidth(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16201})
	svc, ep := s.Service.ServiceID, s.Endpoint.EndpointID
	bw := func(n int) api.UpdateConnectionRequest { return api.UpdateConnectionRequest{Bandwidth: &n} }

	cn, err := s.Provider.UpdateConnection(bg, svc, ep, bw(8))
	if err != nil || cn.Bandwidth != 8 {
		t.Fatalf("provider sets 8 Mbps: %+v, %v", cn, err)
	}
	conns, err := s.Provider.ListConnections(bg, svc)
	if err != nil || len(conns) != 1 || conns[0].Bandwidth != 8 {
		t.Fatalf("connections: %+v, %v", conns, err)
	}
	other, err := s.Provider.CreateService(bg, api.CreateServiceRequest{VpcID: s.ProviderVPC.VpcID, Ports: []int{16202},
		Resources: []api.BackendSpec{{ZoneID: s.ProviderHosts[0].ZoneID, IP: s.ProviderHosts[0].IP.String()}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		c      *client.Client
		svc    string
		req    api.UpdateConnectionRequest
		code   string
		status int
	}{
		{"the consumer", s.Consumer, svc, bw(1), "EndpointServiceNotFound", 404},
		{"negative", s.Provider, svc, bw(-1), "InvalidParameter.Bandwidth", 400},
		{"above 10 Gbps", s.Provider, svc, bw(api.MaxBandwidthMbps + 1), "InvalidParameter.Bandwidth", 400},
		{"another service's endpoint", s.Provider, other.ServiceID, bw(1), "EndpointConnectionNotFound", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.UpdateConnection(bg, tc.svc, ep, tc.req)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != tc.code || ae.Status != tc.status {
				t.Errorf("got %v, want %d %s", err, tc.status, tc.code)
			}
		})
	}
	if cn, err := s.Provider.UpdateConnection(bg, svc, ep, bw(0)); err != nil || cn.Bandwidth != 0 {
		t.Errorf("back to the service's cap: %+v, %v", cn, err)
	}
}

// TestZoneConnection: the provider disables one zone of a connection; the
// consumer sees that zone Disconnected while the other stays Connected,
// and Connected again once enabled.
func TestZoneConnection(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16203})
	ep := s.WaitEndpoint(t, testenv.Active)
	if len(ep.Zones) < 2 {
		t.Fatalf("want two zones: %+v", ep.Zones)
	}
	z0, z1 := ep.Zones[0].ZoneID, ep.Zones[1].ZoneID
	status := func(want0, want1 string) func(model.Endpoint) bool {
		return func(ep model.Endpoint) bool {
			return ep.Zones[0].ZoneStatus == want0 && ep.Zones[1].ZoneStatus == want1
		}
	}
	cn, err := s.Provider.SetZoneConnection(bg, s.Service.ServiceID, ep.EndpointID, z0, true)
	if err != nil || !cn.Zones[0].ConnectionDisabled || cn.Zones[1].ConnectionDisabled {
		t.Fatalf("disable %s: %+v, %v", z0, cn, err)
	}
	s.WaitEndpoint(t, status(model.ZoneDisconnected, model.ZoneConnected))
	if _, err := s.Consumer.SetZoneConnection(bg, s.Service.ServiceID, ep.EndpointID, z1, true); !client.IsNotFound(err) {
		t.Errorf("the consumer disabled a zone: %v", err)
	}
	var ae *api.Error
	if _, err := s.Provider.SetZoneConnection(bg, s.Service.ServiceID, ep.EndpointID, "nowhere", true); !errors.As(err, &ae) || ae.Code != "EndpointZoneNotFound" {
		t.Errorf("unknown zone: %v", err)
	}
	if _, err := s.Provider.SetZoneConnection(bg, s.Service.ServiceID, ep.EndpointID, z0, false); err != nil {
		t.Fatal(err)
	}
	s.WaitEndpoint(t, status(model.ZoneConnected, model.ZoneConnected))
}
