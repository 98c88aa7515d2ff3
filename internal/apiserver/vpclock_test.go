package apiserver_test

import (
	"sync"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

// Endpoint creates in one VPC through one API server queue in the server
// (vpclock.go) instead of racing each other in the store: 32 at once all
// succeed with no commit lost to another (privlink_store_conflicts_total
// stays put). Without the lock every round of optimistic retries lost all
// but one commit: 100+ conflicts here, and 409 Conflict.Concurrent under load.
func TestEndpointCreatesInOneVPCDoNotConflict(t *testing.T) {
	e := startControlPlane(t)
	_, consumer, _, svc := bigService(t, e) // 140 endpoints already
	eps, err := consumer.ListEndpoints(bg, client.Filter{})
	if err != nil || len(eps) == 0 {
		t.Fatalf("endpoints: %d %v", len(eps), err)
	}
	first := eps[0]
	req := api.CreateEndpointRequest{ServiceID: svc, VpcID: first.VpcID, SecurityGroupIDs: first.SecurityGroupIDs,
		Zones: []api.EndpointZoneRequest{{ZoneID: first.Zones[0].ZoneID, VSwitchID: first.Zones[0].VSwitchID}}}
	if _, err := e.Admin.SetQuota(bg, first.AccountID, api.SetQuotaRequest{EndpointsPerVpc: intp(manyEndpoints + 32)}); err != nil {
		t.Fatal(err)
	}
	before := e.Store.Conflicts("create")
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if _, err := consumer.CreateEndpoint(bg, req); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("create: %v", err)
	}
	if n := e.Store.Conflicts("create") - before; n != 0 {
		t.Errorf("%v endpoint creates in one VPC lost a commit to another create of this server, want 0", n)
	}
}
