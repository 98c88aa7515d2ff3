package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/cli"
	"github.com/privlink/privlink/internal/testenv"
)

// TestLoadBalancerCommands: create, list and get a load balancer, publish
// a service with it, attach and detach another, and delete it only once
// detached, through the CLI.
func TestLoadBalancerCommands(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16211})
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append([]string{"--server", e.URL(), "--token", s.Provider.Token()}, args...))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	create := func(host int) api.LoadBalancer {
		t.Helper()
		h := s.ProviderHosts[host]
		out, err := run("load-balancer", "create", "-o", "json", "--vpc", s.ProviderVPC.VpcID, "--port", "7100", "--backend", h.ZoneID+"="+h.IP.String()+":6001")
		var l api.LoadBalancer
		if err != nil || json.Unmarshal([]byte(out), &l) != nil || l.LoadBalancerID == "" || len(l.Backends) != 1 {
			t.Fatalf("load-balancer create: %v\n%s", err, out)
		}
		return l
	}
	one, two := create(0), create(1)
	if out, err := run("load-balancer", "list"); err != nil || !strings.Contains(out, one.LoadBalancerID) || !strings.Contains(out, two.LoadBalancerID) || !strings.Contains(out, "LOAD BALANCER ID") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err := run("service", "create", "-o", "json", "--load-balancer", one.LoadBalancerID)
	var svc api.EndpointService
	if err != nil || json.Unmarshal([]byte(out), &svc) != nil || len(svc.Ports) != 1 || svc.Ports[0] != 7100 {
		t.Fatalf("service create --load-balancer: %v\n%s", err, out)
	}
	if _, err := run("load-balancer", "detach", one.LoadBalancerID, "--service", svc.ServiceID); err == nil || !strings.Contains(err.Error(), "OperationDenied.LastResource") {
		t.Fatalf("detaching the last resource: %v", err)
	}
	if out, err := run("load-balancer", "attach", two.LoadBalancerID, "--service", svc.ServiceID, "-o", "json"); err != nil || !strings.Contains(out, two.LoadBalancerID) {
		t.Fatalf("attach: %v\n%s", err, out)
	}
	if _, err := run("load-balancer", "delete", one.LoadBalancerID); err == nil || !strings.Contains(err.Error(), "DependencyViolation.LoadBalancer") {
		t.Fatalf("deleting an attached load balancer: %v", err)
	}
	if out, err := run("load-balancer", "detach", one.LoadBalancerID, "--service", svc.ServiceID, "-o", "json"); err != nil || strings.Contains(out, one.LoadBalancerID) {
		t.Fatalf("detach: %v\n%s", err, out)
	}
	if out, err := run("load-balancer", "get", two.LoadBalancerID); err != nil || !strings.Contains(out, svc.ServiceID) {
		t.Fatalf("get shows its service: %v\n%s", err, out)
	}
	if _, err := run("load-balancer", "delete", one.LoadBalancerID); err != nil {
		t.Fatalf("delete once detached: %v", err)
	}
}
