package apiserver_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

var bg = context.Background()

// startLoopback runs a server with the loopback driver: the control-plane
// tests need no root.
func startLoopback(t *testing.T) *testenv.Env {
	return testenv.Start(t, testenv.Options{Network: "loopback"})
}

func TestProviderConsumerFlow(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16001})
	ep := s.WaitEndpoint(t, testenv.Active)

	if !regexp.MustCompile(`^com\.privlink\.cn-hangzhou\.epsrv-[a-z2-7]{20}$`).MatchString(s.Service.Name) {
		t.Errorf("service name %q", s.Service.Name)
	}
	wantDomain := ep.EndpointID + "." + s.Service.ServiceID + ".cn-hangzhou.privatelink.internal"
	if ep.EndpointDomain != wantDomain {
		t.Errorf("endpoint domain %q, want %q", ep.EndpointDomain, wantDomain)
	}
	if len(ep.Zones) != 2 {
		t.Fatalf("zones: %+v", ep.Zones)
	}
	for _, z := range ep.Zones {
		if z.ZoneDomain != ep.EndpointID+"-"+z.ZoneID+"."+s.Service.ServiceID+".cn-hangzhou.privatelink.internal" {
			t.Errorf("zone domain %q", z.ZoneDomain)
		}
		if z.ZoneStatus != model.ZoneConnected || !z.IP.IsValid() || !strings.HasPrefix(z.EniID, "eni-") {
			t.Errorf("zone %+v not connected", z)
		}
	}
	if ep.ConnectionStatus != model.ConnConnected {
		t.Errorf("connection %s", ep.ConnectionStatus)
	}
	// The consumer finds the service by name; the provider sees the connection.
	found, err := s.Consumer.SearchServices(bg, s.Service.Name)
	if err != nil || len(found) != 1 {
		t.Fatalf("search: %v %+v", err, found)
	}
	if found[0].Resources != nil || found[0].AllowedAccounts != nil {
		t.Errorf("consumer sees provider internals: %+v", found[0])
	}
	conns, err := s.Provider.ListConnections(bg, s.Service.ServiceID)
	if err != nil || len(conns) != 1 || conns[0].EndpointOwnerID != s.ConsumerID {
		t.Fatalf("connections: %v %+v", err, conns)
	}
	// Deleting the service with a live endpoint is refused; after the endpoint goes, it works.
	_, err = s.Provider.DeleteService(bg, s.Service.ServiceID)
	wantCode(t, err, "DependencyViolation.EndpointExists")
	if _, err := s.Consumer.DeleteEndpoint(bg, ep.EndpointID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Provider.DeleteService(bg, s.Service.ServiceID); err != nil {
		t.Fatal(err)
	}
	// The endpoint's IPs were released: a new host may take the first zone's ENI IP.
	if _, err := s.Consumer.CreateHost(bg, api.CreateHostRequest{VSwitchID: ep.Zones[0].VSwitchID, IP: ep.Zones[0].IP.String()}); err != nil {
		t.Fatalf("IP %s not released: %v", ep.Zones[0].IP, err)
	}
}

func TestManualApproval(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16002})
	ep := s.WaitEndpoint(t, testenv.Active)
	if ep.ConnectionStatus != model.ConnPending {
		t.Fatalf("connection %s, want Pending", ep.ConnectionStatus)
	}
	for _, z := range ep.Zones {
		if z.ZoneStatus != model.ZoneDisconnected {
			t.Errorf("pending zone status %s", z.ZoneStatus)
		}
	}
	svc := s.Service.ServiceID
	if _, err := s.Provider.AcceptConnection(bg, svc, ep.EndpointID); err != nil {
		t.Fatal(err)
	}
	s.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.ConnectionStatus == model.ConnConnected })
	if _, err := s.Provider.RejectConnection(bg, svc, ep.EndpointID); err != nil {
		t.Fatal(err)
	}
	s.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.ConnectionStatus == model.ConnDisconnected })
	// The consumer cannot accept its own connection.
	_, err := s.Consumer.AcceptConnection(bg, svc, ep.EndpointID)
	wantCode(t, err, "EndpointServiceNotFound")
	// Allow-list removal disconnects; re-allowing and accepting reconnects.
	if _, err := s.Provider.AcceptConnection(bg, svc, ep.EndpointID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Provider.DisallowAccount(bg, svc, s.ConsumerID); err != nil {
		t.Fatal(err)
	}
	s.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.ConnectionStatus == model.ConnDisconnected })
	// An account off the allow-list cannot be accepted back in.
	_, err = s.Provider.AcceptConnection(bg, svc, ep.EndpointID)
	wantCode(t, err, "OperationDenied.NotAllowListed")
	found, err := s.Consumer.SearchServices(bg, "")
	if err != nil || len(found) != 0 {
		t.Fatalf("disallowed consumer still finds the service: %v %+v", err, found)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	ce, ok := err.(*api.Error)
	if !ok {
		t.Fatalf("want API error %s, got %v", code, err)
	}
	if ce.Code != code {
		t.Fatalf("want code %s, got %s: %s", code, ce.Code, ce.Message)
	}
	if ce.RequestID == "" || ce.Message == "" {
		t.Fatalf("error body incomplete: %+v", ce)
	}
}
