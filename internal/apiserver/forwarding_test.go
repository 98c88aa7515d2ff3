package apiserver_test

import (
	"maps"
	"net/netip"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestForwardingField: a service's forwarding mode defaults to proxy, is
// shown in its view, and nat is refused with a clear code where only the
// proxy can serve the service (PROXY protocol, connection limits), on
// create and on update; an unknown mode is InvalidParameter.Forwarding.
func TestForwardingField(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16021, NoEndpoint: true})
	p := s.Provider
	if s.Service.Forwarding != model.ForwardProxy {
		t.Errorf("default forwarding %q, want proxy", s.Service.Forwarding)
	}
	zone := s.ProviderHosts[0].ZoneID
	req := func(mut func(r *api.CreateServiceRequest)) api.CreateServiceRequest {
		r := api.CreateServiceRequest{VpcID: s.ProviderVPC.VpcID, Ports: []int{16022},
			Resources: []api.BackendSpec{{ZoneID: zone, IP: s.ProviderHosts[0].IP.String()}}}
		mut(&r)
		return r
	}
	for _, c := range []struct {
		name string
		mut  func(r *api.CreateServiceRequest)
		code string
	}{
		{"unknown mode", func(r *api.CreateServiceRequest) { r.Forwarding = "kernel" }, "InvalidParameter.Forwarding"},
		{"nat with PROXY protocol", func(r *api.CreateServiceRequest) { r.Forwarding = "nat"; r.ProxyProtocol = true }, "InvalidParameter.Forwarding.NeedsProxy"},
		{"nat with connection limit", func(r *api.CreateServiceRequest) { r.Forwarding = "nat"; r.MaxConnsPerEndpoint = 10 }, "InvalidParameter.Forwarding.NeedsProxy"},
		{"nat with connection rate", func(r *api.CreateServiceRequest) { r.Forwarding = "nat"; r.NewConnsPerSecond = 10 }, "InvalidParameter.Forwarding.NeedsProxy"},
		{"nat with dualstack", func(r *api.CreateServiceRequest) { r.Forwarding = "nat"; r.AddressIPVersion = "dualstack" }, "InvalidParameter.Forwarding.NeedsProxy"},
	} {
		_, err := p.CreateService(bg, req(c.mut))
		wantCode(t, err, c.code)
	}
	nat, err := p.CreateService(bg, req(func(r *api.CreateServiceRequest) { r.Forwarding = "nat" }))
	if err != nil {
		t.Fatal(err)
	}
	if nat.Forwarding != model.ForwardNAT || model.EffectiveForwarding(&nat) != model.ForwardNAT {
		t.Errorf("nat service: forwarding %q, effective %q", nat.Forwarding, model.EffectiveForwarding(&nat))
	}
	on := true
	_, err = p.UpdateService(bg, nat.ServiceID, api.UpdateServiceRequest{ProxyProtocol: &on})
	wantCode(t, err, "InvalidParameter.Forwarding.NeedsProxy")
	auto := "auto"
	got, err := p.UpdateService(bg, nat.ServiceID, api.UpdateServiceRequest{Forwarding: &auto, ProxyProtocol: &on})
	if err != nil {
		t.Fatal(err)
	}
	if got.Forwarding != model.ForwardAuto || model.EffectiveForwarding(&got) != model.ForwardProxy {
		t.Errorf("auto with PROXY protocol: forwarding %q, effective %q, want auto and proxy", got.Forwarding, model.EffectiveForwarding(&got))
	}
	bad := "fast"
	_, err = p.UpdateService(bg, nat.ServiceID, api.UpdateServiceRequest{Forwarding: &bad})
	wantCode(t, err, "InvalidParameter.Forwarding")
	if got, _ = p.GetService(bg, nat.ServiceID); got.Forwarding != model.ForwardAuto {
		t.Errorf("a refused update changed forwarding to %q", got.Forwarding)
	}
}

// TestSNATAllocation: every endpoint zone gets its own SNAT address from
// the pool when created, the provider sees it in the connections API, and
// deleting the endpoint frees it (store invariants hold throughout).
func TestSNATAllocation(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16023, AutoAccept: true})
	vsw := s.ConsumerVSwitches[0]
	second, err := s.Consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceName: s.Service.Name, VpcID: s.ConsumerVPC.VpcID,
		SecurityGroupIDs: []string{s.SG.SecurityGroupID}, Zones: []api.EndpointZoneRequest{{ZoneID: vsw.ZoneID, VSwitchID: vsw.VSwitchID}}})
	if err != nil {
		t.Fatal(err)
	}
	first := s.Endpoint
	all := map[netip.Addr]string{}
	for _, ep := range []model.Endpoint{first, second} {
		for _, z := range ep.Zones {
			if !model.SNATPool.Contains(z.SnatIP) {
				t.Fatalf("endpoint %s zone %s: SNAT %v not in %v", ep.EndpointID, z.ZoneID, z.SnatIP, model.SNATPool)
			}
			if o, dup := all[z.SnatIP]; dup {
				t.Fatalf("SNAT %v given to %s and %s", z.SnatIP, o, z.EniID)
			}
			all[z.SnatIP] = z.EniID
		}
	}
	conns, err := s.Provider.ListConnections(bg, s.Service.ServiceID)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]string{}
	for _, c := range conns {
		for _, z := range c.Zones {
			seen[z.SnatIP] = z.EniID
		}
	}
	if !maps.Equal(seen, all) {
		t.Errorf("connections show SNAT %v, want %v", seen, all)
	}
	storeInvariants(t, e)
	if _, err := s.Consumer.DeleteEndpoint(bg, first.EndpointID); err != nil {
		t.Fatal(err)
	}
	keys, err := e.Store.Keys(bg, e.Store.IPAMPrefix(model.SNATPoolKey))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != second.Zones[0].SnatIP.String() {
		t.Errorf("SNAT allocations after deleting %s: %v, want only %v", first.EndpointID, keys, second.Zones[0].SnatIP)
	}
}
