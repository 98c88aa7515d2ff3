package apiserver_test

import (
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// manyEndpoints is more endpoints of one consumer on one service than etcd
// takes writes in one transaction (--max-txn-ops, 128 by default).
const manyEndpoints = 140

// bigService builds a provider's auto-accept service that allow-lists a
// consumer with manyEndpoints endpoints on it (the consumer's quota raised
// for it); no agents, so the control plane alone is measured.
func bigService(t *testing.T, e *testenv.Env) (provider, consumer *client.Client, consumerID, svcID string) {
	t.Helper()
	provider, _ = e.Account(t, "provider")
	consumer, consumerID = e.Account(t, "consumer")
	if _, err := e.Admin.SetQuota(bg, consumerID, api.SetQuotaRequest{EndpointsPerVpc: intp(manyEndpoints)}); err != nil {
		t.Fatal(err)
	}
	zone := server0Zone(t, provider)
	pvpc, err := provider.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.1.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: pvpc.VpcID, ZoneID: zone, CidrBlock: "10.1.1.0/24"}); err != nil {
		t.Fatal(err)
	}
	svc, err := provider.CreateService(bg, api.CreateServiceRequest{VpcID: pvpc.VpcID, Ports: []int{80}, AutoAcceptEnabled: true,
		AllowedAccounts: []string{consumerID}, Resources: []api.BackendSpec{{ZoneID: zone, IP: "10.1.1.10"}}})
	if err != nil {
		t.Fatal(err)
	}
	cvpc, err := consumer.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.2.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	vsw, err := consumer.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: cvpc.VpcID, ZoneID: zone, CidrBlock: "10.2.0.0/23"})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := consumer.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: cvpc.VpcID})
	if err != nil {
		t.Fatal(err)
	}
	req := api.CreateEndpointRequest{ServiceID: svc.ServiceID, VpcID: cvpc.VpcID, SecurityGroupIDs: []string{sg.SecurityGroupID},
		Zones: []api.EndpointZoneRequest{{ZoneID: zone, VSwitchID: vsw.VSwitchID}}}
	for i := 0; i < manyEndpoints; i++ {
		if _, err := consumer.CreateEndpoint(bg, req); err != nil {
			t.Fatalf("endpoint %d: %v", i, err)
		}
	}
	return provider, consumer, consumerID, svc.ServiceID
}

// connections counts the consumer's endpoints by connection status.
func connections(t *testing.T, c *client.Client) map[string]int {
	t.Helper()
	eps, err := c.ListEndpoints(bg, client.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, ep := range eps {
		out[ep.ConnectionStatus]++
	}
	return out
}

// TestManyEndpointsRevokeAndDelete removes an account with more endpoints
// than one etcd transaction takes from a service's allow-list, then
// deletes the service: both answer 200 (they were 500: "too many
// operations in txn request") and leave every endpoint Disconnected, then
// ServiceDeleted.
func TestManyEndpointsRevokeAndDelete(t *testing.T) {
	e := startControlPlane(t)
	provider, consumer, consumerID, svc := bigService(t, e)
	if got := connections(t, consumer); got[model.ConnConnected] != manyEndpoints {
		t.Fatalf("before: %v", got)
	}
	start := time.Now()
	if _, err := provider.DisallowAccount(bg, svc, consumerID); err != nil {
		t.Fatal(err)
	}
	t.Logf("removal of an account with %d endpoints from the allow-list: %v", manyEndpoints, time.Since(start))
	if got := connections(t, consumer); got[model.ConnDisconnected] != manyEndpoints {
		t.Fatalf("after the removal returned: %v, want all %d Disconnected", got, manyEndpoints)
	}
	start = time.Now()
	if _, err := provider.DeleteService(bg, svc); err != nil {
		t.Fatal(err)
	}
	t.Logf("delete of a service with %d Disconnected endpoints: %v", manyEndpoints, time.Since(start))
	if got := connections(t, consumer); got[model.ConnServiceDeleted] != manyEndpoints {
		t.Fatalf("after the delete returned: %v, want all %d ServiceDeleted", got, manyEndpoints)
	}
}

// TestInterruptedBatchesConverge stands for a server that crashed after
// the first transaction of a removal or a service delete: the allow-list
// change (or the deletion) is in, the endpoints are not yet rewritten.
// The status controller finishes the job.
func TestInterruptedBatchesConverge(t *testing.T) {
	e := startControlPlane(t)
	_, consumer, _, svc := bigService(t, e)
	key := e.Store.ResourceKey(store.KindService, svc)
	if _, err := store.Update(bg, e.Store, key, func(s *model.EndpointService, _ *store.Txn) error {
		s.AllowedAccounts = nil // the first batch without its endpoints
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitConnections(t, consumer, model.ConnDisconnected)
	t.Logf("controller disconnected %d endpoints of a revoked account in %v", manyEndpoints, time.Since(start))
	_, rev, err := store.Get[model.EndpointService](bg, e.Store, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.Delete(bg, store.KindService, svc, rev, e.Store.NewTxn()); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitConnections(t, consumer, model.ConnServiceDeleted)
	t.Logf("controller marked %d endpoints of a deleted service ServiceDeleted in %v", manyEndpoints, time.Since(start))
}

// waitConnections waits (bounded) until every endpoint has status want.
func waitConnections(t *testing.T, c *client.Client, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := connections(t, c)
		if got[want] == manyEndpoints {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller did not converge: %v, want all %d %s", got, manyEndpoints, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
