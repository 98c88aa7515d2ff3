package apiserver_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/privlink/privlink/internal/invariant"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestLoadBalancerCreateValidation: a load balancer's backends are checked
// as a service's (an address of the VPC's vSwitch in that zone), its VPC
// must be the caller's, and a refused create leaves nothing behind.
func TestLoadBalancerCreateValidation(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16201})
	zones := e.Config().Zones
	h0, h1 := s.ProviderHosts[0], s.ProviderHosts[1]
	vpc := s.ProviderVPC.VpcID
	be := func(zone, ip string, port int) api.BackendSpec {
		return api.BackendSpec{ZoneID: zone, IP: ip, Port: port}
	}
	for _, c := range []struct {
		name string
		req  api.CreateLoadBalancerRequest
		code string
	}{
		{"no ports", api.CreateLoadBalancerRequest{VpcID: vpc, Backends: []api.BackendSpec{be(h0.ZoneID, h0.IP.String(), 1)}}, "InvalidParameter.Ports"},
		{"port twice", api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80, 80}, Backends: []api.BackendSpec{be(h0.ZoneID, h0.IP.String(), 0)}}, "InvalidParameter.Ports"},
		{"no backends", api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80}}, "InvalidParameter.Backends"},
		{"not IPv4", api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80}, Backends: []api.BackendSpec{be(h0.ZoneID, "db", 0)}}, "InvalidParameter.Backends.Ip"},
		{"outside the VPC", api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80}, Backends: []api.BackendSpec{be(h0.ZoneID, "192.0.2.1", 0)}}, "InvalidParameter.Backends.Ip"},
		{"wrong zone", api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80}, Backends: []api.BackendSpec{be(zones[1], h0.IP.String(), 0)}}, "InvalidParameter.Backends.ZoneId"},
		{"unknown zone", api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80}, Backends: []api.BackendSpec{be("mars-1", h0.IP.String(), 0)}}, "InvalidZoneId.NotFound"},
		{"backend port with two ports", api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80, 81}, Backends: []api.BackendSpec{be(h0.ZoneID, h0.IP.String(), 8080)}}, "InvalidParameter.Backends.Port"},
		{"backend twice", api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80}, Backends: []api.BackendSpec{be(h0.ZoneID, h0.IP.String(), 0), be(h0.ZoneID, h0.IP.String(), 0)}}, "InvalidParameter.Backends"},
		{"unknown VPC", api.CreateLoadBalancerRequest{VpcID: "vpc-aaaaaaaaaaaaaaaaaaaa", Ports: []int{80}, Backends: []api.BackendSpec{be(h0.ZoneID, h0.IP.String(), 0)}}, "VpcNotFound"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Provider.CreateLoadBalancer(bg, c.req)
			wantCode(t, err, c.code)
		})
	}
	// Another account's VPC is invisible.
	_, err := s.Consumer.CreateLoadBalancer(bg, api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80}, Backends: []api.BackendSpec{be(h0.ZoneID, h0.IP.String(), 0)}})
	wantCode(t, err, "VpcNotFound")
	if got, err := s.Provider.ListLoadBalancers(bg, client.Filter{}); err != nil || len(got) != 0 {
		t.Fatalf("refused creates left %d load balancers (%v)", len(got), err)
	}

	lb, err := s.Provider.CreateLoadBalancer(bg, api.CreateLoadBalancerRequest{Name: "db", VpcID: vpc, Ports: []int{3306},
		Backends: []api.BackendSpec{be(h1.ZoneID, h1.IP.String(), 6001), be(h0.ZoneID, h0.IP.String(), 6001)}, ClientToken: "lb-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !model.ValidID(model.PrefixLB, lb.LoadBalancerID) || lb.VpcID != vpc || !slices.Equal(lb.Zones, []string{zones[0], zones[1]}) || len(lb.Backends) != 2 || lb.Status != model.StatusActive {
		t.Fatalf("created %+v", lb)
	}
	again, err := s.Provider.CreateLoadBalancer(bg, api.CreateLoadBalancerRequest{Name: "db", VpcID: vpc, Ports: []int{3306},
		Backends: []api.BackendSpec{be(h1.ZoneID, h1.IP.String(), 6001), be(h0.ZoneID, h0.IP.String(), 6001)}, ClientToken: "lb-1"})
	if err != nil || again.LoadBalancerID != lb.LoadBalancerID {
		t.Fatalf("repeated client token: %s %v, want %s", again.LoadBalancerID, err, lb.LoadBalancerID)
	}
	_, err = s.Consumer.GetLoadBalancer(bg, lb.LoadBalancerID)
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = s.Consumer.DeleteLoadBalancer(bg, lb.LoadBalancerID)
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = s.Provider.DeleteVPC(bg, vpc)
	if err == nil {
		t.Fatal("the VPC of a load balancer was deleted")
	}
	if _, err := s.Provider.DeleteLoadBalancer(bg, lb.LoadBalancerID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Provider.GetLoadBalancer(bg, lb.LoadBalancerID)
	wantCode(t, err, "LoadBalancerNotFound")

	// A VPC holds at most MaxLoadBalancersPerVPC.
	for i := 0; i < api.MaxLoadBalancersPerVPC; i++ {
		if _, err := s.Provider.CreateLoadBalancer(bg, api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80 + i}, Backends: []api.BackendSpec{be(h0.ZoneID, h0.IP.String(), 0)}}); err != nil {
			t.Fatalf("load balancer %d: %v", i+1, err)
		}
	}
	_, err = s.Provider.CreateLoadBalancer(bg, api.CreateLoadBalancerRequest{VpcID: vpc, Ports: []int{80}, Backends: []api.BackendSpec{be(h0.ZoneID, h0.IP.String(), 0)}})
	wantCode(t, err, "QuotaExceeded.LoadBalancersPerVpc")
}

// TestServiceLoadBalancers: attaching sets the service's ports, zones and
// backends; a second load balancer must share the ports and adds its
// backends; detaching recomputes them; the last cannot be detached; an
// attached load balancer cannot be deleted; other accounts see nothing.
func TestServiceLoadBalancers(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16202})
	zones := e.Config().Zones
	h0, h1 := s.ProviderHosts[0], s.ProviderHosts[1]
	vpc, svc := s.ProviderVPC.VpcID, s.Service.ServiceID
	mk := func(ports []int, hosts ...model.Host) model.LoadBalancer {
		t.Helper()
		req := api.CreateLoadBalancerRequest{VpcID: vpc, Ports: ports}
		for _, h := range hosts {
			req.Backends = append(req.Backends, api.BackendSpec{ZoneID: h.ZoneID, IP: h.IP.String()})
		}
		lb, err := s.Provider.CreateLoadBalancer(bg, req)
		if err != nil {
			t.Fatal(err)
		}
		return lb
	}
	both := mk([]int{7001, 7002}, h0, h1)
	onlyFirst := mk([]int{7002, 7001}, h0)
	otherPorts := mk([]int{7003}, h1)

	_, err := s.Consumer.AttachServiceLoadBalancer(bg, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: both.LoadBalancerID})
	wantCode(t, err, "EndpointServiceNotFound")
	_, err = s.Provider.AttachServiceLoadBalancer(bg, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: "nlb-aaaaaaaaaaaaaaaaaaaa"})
	wantCode(t, err, "LoadBalancerNotFound")
	_, err = s.Provider.DetachServiceLoadBalancer(bg, svc, both.LoadBalancerID)
	wantCode(t, err, "EndpointServiceResourceNotFound")

	// The first attach replaces the backends given at creation.
	got, err := s.Provider.AttachServiceLoadBalancer(bg, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: onlyFirst.LoadBalancerID})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Ports, []int{7002, 7001}) || !slices.Equal(got.Zones, []string{h0.ZoneID}) || len(got.Resources) != 1 ||
		got.Resources[0].IP != h0.IP || !slices.Equal(got.LoadBalancerIDs, []string{onlyFirst.LoadBalancerID}) {
		t.Fatalf("after the first attach: %+v", got)
	}
	_, err = s.Provider.AttachServiceLoadBalancer(bg, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: onlyFirst.LoadBalancerID})
	wantCode(t, err, "IncorrectStatus.ResourceAttached")
	_, err = s.Provider.AttachServiceLoadBalancer(bg, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: otherPorts.LoadBalancerID})
	wantCode(t, err, "InvalidParameter.LoadBalancerId")
	_, err = s.Provider.DetachServiceLoadBalancer(bg, svc, onlyFirst.LoadBalancerID)
	wantCode(t, err, "OperationDenied.LastResource")
	_, err = s.Provider.DeleteLoadBalancer(bg, onlyFirst.LoadBalancerID)
	wantCode(t, err, "DependencyViolation.LoadBalancer")

	got, err = s.Provider.AttachServiceLoadBalancer(bg, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: both.LoadBalancerID})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Zones, []string{zones[0], zones[1]}) || len(got.Resources) != 2 || len(got.LoadBalancerIDs) != 2 {
		t.Fatalf("after the second attach (backends are the union): %+v", got)
	}
	l, err := s.Provider.GetLoadBalancer(bg, both.LoadBalancerID)
	if err != nil || !slices.Equal(l.ServiceIDs, []string{svc}) {
		t.Fatalf("get shows services %v (%v), want [%s]", l.ServiceIDs, err, svc)
	}
	for _, b := range l.Backends {
		if b.Health == "" {
			t.Errorf("backend %s of an attached load balancer has no health", b.IP)
		}
	}
	got, err = s.Provider.DetachServiceLoadBalancer(bg, svc, onlyFirst.LoadBalancerID)
	if err != nil || !slices.Equal(got.LoadBalancerIDs, []string{both.LoadBalancerID}) || len(got.Resources) != 2 {
		t.Fatalf("after detach: %+v %v", got, err)
	}
	if _, err := s.Provider.DeleteLoadBalancer(bg, onlyFirst.LoadBalancerID); err != nil {
		t.Fatalf("a detached load balancer cannot be deleted: %v", err)
	}
	// The stored service is what the attach answered.
	stored, err := s.Provider.GetService(bg, svc)
	if err != nil || !slices.Equal(stored.Ports, []int{7001, 7002}) || len(stored.Resources) != 2 {
		t.Fatalf("stored service %+v %v", stored, err)
	}

	// A service created with load balancers takes their ports and backends;
	// ports or backends besides them are refused.
	_, err = s.Provider.CreateService(bg, api.CreateServiceRequest{LoadBalancerIDs: []string{both.LoadBalancerID}, Ports: []int{1}})
	wantCode(t, err, "InvalidParameter.LoadBalancerIds")
	_, err = s.Consumer.CreateService(bg, api.CreateServiceRequest{LoadBalancerIDs: []string{both.LoadBalancerID}})
	wantCode(t, err, "LoadBalancerNotFound")
	created, err := s.Provider.CreateService(bg, api.CreateServiceRequest{LoadBalancerIDs: []string{otherPorts.LoadBalancerID}})
	if err != nil {
		t.Fatal(err)
	}
	if created.VpcID != vpc || !slices.Equal(created.Ports, []int{7003}) || !slices.Equal(created.Zones, []string{h1.ZoneID}) ||
		len(created.Resources) != 1 || !slices.Equal(created.LoadBalancerIDs, []string{otherPorts.LoadBalancerID}) {
		t.Fatalf("service created with a load balancer: %+v", created)
	}
	list, err := s.Provider.ListLoadBalancers(bg, client.Filter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	for _, l := range list {
		if len(l.ServiceIDs) != 1 {
			t.Errorf("list: %s attached to %v", l.LoadBalancerID, l.ServiceIDs)
		}
	}
	if got, err := s.Consumer.ListLoadBalancers(bg, client.Filter{}); err != nil || len(got) != 0 {
		t.Fatalf("the consumer lists %d load balancers (%v)", len(got), err)
	}
	storeInvariants(t, e)
}

// storeInvariants wants the store's records consistent (internal/invariant),
// services and their load balancers included.
func storeInvariants(t *testing.T, e *testenv.Env) {
	t.Helper()
	snap, err := invariant.Read(bg, e.Store)
	if err != nil {
		t.Fatal(err)
	}
	if bad := snap.Check(); len(bad) > 0 {
		t.Fatalf("store invariants violated:\n%s", strings.Join(bad, "\n"))
	}
}

// TestLoadBalancerAttachDeleteRace: an attach and a delete of the same load
// balancer, at once, never both succeed: a service never refers to a
// deleted load balancer (the attach rewrites the load balancer, the delete
// is guarded on its revision, and the attach on its existence).
func TestLoadBalancerAttachDeleteRace(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16203})
	h := s.ProviderHosts[0]
	mk := func() string {
		t.Helper()
		l, err := s.Provider.CreateLoadBalancer(bg, api.CreateLoadBalancerRequest{VpcID: s.ProviderVPC.VpcID, Ports: []int{7001},
			Backends: []api.BackendSpec{{ZoneID: h.ZoneID, IP: h.IP.String()}}})
		if err != nil {
			t.Fatal(err)
		}
		return l.LoadBalancerID
	}
	svc := s.Service.ServiceID
	if _, err := s.Provider.AttachServiceLoadBalancer(bg, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: mk()}); err != nil {
		t.Fatal(err)
	}
	attached, deleted := 0, 0
	for round := 0; round < 10; round++ {
		id := mk()
		var attachErr, deleteErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, attachErr = s.Provider.AttachServiceLoadBalancer(bg, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: id})
		}()
		go func() { defer wg.Done(); _, deleteErr = s.Provider.DeleteLoadBalancer(bg, id) }()
		wg.Wait()
		storeInvariants(t, e)
		if attachErr == nil && deleteErr == nil {
			t.Fatalf("round %d: both the attach and the delete of %s succeeded", round, id)
		}
		got, err := s.Provider.GetService(bg, svc)
		if err != nil {
			t.Fatal(err)
		}
		_, getErr := s.Provider.GetLoadBalancer(bg, id)
		if slices.Contains(got.LoadBalancerIDs, id) != (attachErr == nil) || (getErr == nil) != (deleteErr != nil) {
			t.Fatalf("round %d: attach %v, delete %v; the service has %v, the load balancer reads %v", round, attachErr, deleteErr, got.LoadBalancerIDs, getErr)
		}
		if attachErr == nil {
			attached++
			if _, err := s.Provider.DetachServiceLoadBalancer(bg, svc, id); err != nil {
				t.Fatal(err)
			}
		} else {
			deleted++
		}
	}
	storeInvariants(t, e)
	t.Logf("10 rounds: the attach won %d, the delete %d", attached, deleted)
}
