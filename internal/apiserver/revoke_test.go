package apiserver_test

import (
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestRevocationRace races endpoint creates against the removal of their
// account from the service's allow-list: once the removal has returned, no
// endpoint of the account may be Connected, whichever committed first.
func TestRevocationRace(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, NoEndpoint: true, Port: 16101})
	req := api.CreateEndpointRequest{ServiceID: s.Service.ServiceID, VpcID: s.ConsumerVPC.VpcID,
		SecurityGroupIDs: []string{s.SG.SecurityGroupID},
		Zones:            []api.EndpointZoneRequest{{ZoneID: s.ConsumerVSwitches[0].ZoneID, VSwitchID: s.ConsumerVSwitches[0].VSwitchID}}}
	const rounds, creators = 25, 4
	for round := 0; round < rounds; round++ {
		if round > 0 {
			if _, err := s.Provider.AllowAccount(bg, s.Service.ServiceID, s.ConsumerID); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for i := 0; i < creators; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = s.Consumer.CreateEndpoint(bg, req) // refused once the removal is in: fine
			}()
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		if _, err := s.Provider.DisallowAccount(bg, s.Service.ServiceID, s.ConsumerID); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		eps, err := s.Consumer.ListEndpoints(bg, client.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range eps {
			if ep.ConnectionStatus == model.ConnConnected {
				t.Errorf("round %d: endpoint %s is Connected after its account was removed from the allow-list", round, ep.EndpointID)
			}
			if _, err := s.Consumer.DeleteEndpoint(bg, ep.EndpointID); err != nil {
				t.Fatal(err)
			}
		}
	}
}
