package apiserver_test

import (
	"sync"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestDeleteServiceWithDisconnectedEndpoint: a Pending endpoint blocks the
// delete; once rejected, the service goes and the endpoint turns
// ServiceDeleted until its owner deletes it, which releases its IPs.
func TestDeleteServiceWithDisconnectedEndpoint(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16201})
	ep := s.WaitEndpoint(t, testenv.Active)
	svc := s.Service.ServiceID
	_, err := s.Provider.DeleteService(bg, svc)
	wantCode(t, err, "DependencyViolation.EndpointExists")
	if _, err := s.Provider.RejectConnection(bg, svc, ep.EndpointID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Provider.DeleteService(bg, svc); err != nil {
		t.Fatal(err)
	}
	got, err := s.Consumer.GetEndpoint(bg, ep.EndpointID)
	if err != nil || got.ConnectionStatus != model.ConnServiceDeleted {
		t.Fatalf("endpoint after its service's deletion: %v %+v", err, got.ConnectionStatus)
	}
	if _, err := s.Consumer.DeleteEndpoint(bg, ep.EndpointID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Consumer.CreateHost(bg, api.CreateHostRequest{VSwitchID: ep.Zones[0].VSwitchID, IP: ep.Zones[0].IP.String()}); err != nil {
		t.Fatalf("IP %s not released: %v", ep.Zones[0].IP, err)
	}
}

// TestDeleteServiceRace races endpoint creates (Pending: manual approval)
// against the provider rejecting every connection and deleting the
// service: once the delete has returned, every endpoint of the service is
// ServiceDeleted, none Pending or Connected.
func TestDeleteServiceRace(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{NoEndpoint: true, Port: 16202})
	svc := s.Service.ServiceID
	req := api.CreateEndpointRequest{ServiceID: svc, VpcID: s.ConsumerVPC.VpcID, SecurityGroupIDs: []string{s.SG.SecurityGroupID},
		Zones: []api.EndpointZoneRequest{{ZoneID: s.ConsumerVSwitches[0].ZoneID, VSwitchID: s.ConsumerVSwitches[0].VSwitchID}}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = s.Consumer.CreateEndpoint(bg, req) // refused once the service is gone: fine
			}
		}()
	}
	for deleted := false; !deleted; {
		conns, err := s.Provider.ListConnections(bg, svc)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range conns {
			if c.ConnectionStatus != model.ConnDisconnected {
				_, _ = s.Provider.RejectConnection(bg, svc, c.EndpointID)
			}
		}
		_, err = s.Provider.DeleteService(bg, svc)
		deleted = err == nil
	}
	close(stop)
	wg.Wait()
	eps, err := s.Consumer.ListEndpoints(bg, client.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		if ep.ConnectionStatus != model.ConnServiceDeleted {
			t.Errorf("endpoint %s is %s after its service was deleted", ep.EndpointID, ep.ConnectionStatus)
		}
	}
	t.Logf("%d endpoints turned ServiceDeleted", len(eps))
}
