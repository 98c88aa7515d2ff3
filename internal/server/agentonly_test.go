package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/testenv"
)

// TestAgentOnly runs zone i as a standalone agent (what `privlink agent`
// assembles) next to a server with no agents: Start returns once the agent
// has synced and built its zone, and the VPC resolver then answers inside
// the namespace that agent created.
func TestAgentOnly(t *testing.T) {
	testenv.NeedRoot(t)
	e := testenv.Start(t, testenv.Options{AgentZones: []string{}})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	consumer := s.ConsumerVPC.VpcID
	if e.Driver.Sockets.HasVPC(consumer) {
		t.Fatal("the consumer VPC exists with no agent running")
	}

	cfg := server.Config{AgentOnly: true, AgentZones: []string{"cn-hangzhou-i"},
		Network: netdrv.Netns, NetnsPrefix: e.Prefix, MetricsListen: "127.0.0.1:0", Logger: e.Config().Logger}
	e.JoinEtcd(&cfg)
	a, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop) // before the env's cleanup removes the namespaces
	if !a.Ready() || a.API != nil {
		t.Fatalf("after Start: ready %v, API %v", a.Ready(), a.API)
	}
	if !a.Driver.Sockets.HasVPC(consumer) {
		t.Fatal("Start returned before the agent created the consumer VPC")
	}
	for path, want := range map[string]string{"/readyz": "ready", "/metrics": "privlink_agent_synced 1", "/v1/vpcs": "404"} {
		resp, err := http.Get(a.MetricsURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) && !strings.Contains(resp.Status, want) {
			t.Errorf("GET %s: %s %.200q, want %q", path, resp.Status, body, want)
		}
	}

	// The resolver of the agent's process answers inside that namespace with
	// the zone it serves (zone h has no agent, so it is not published).
	ep := s.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.Zones[1].ZoneStatus == model.ZoneConnected })
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return a.Driver.Sockets.Dial(ctx, consumer, a.Driver.Sockets.ResolverAddr(consumer))
	}
	r := &net.Resolver{PreferGo: true, Dial: dial}
	testenv.Eventually(t, "the agent's resolver answers in the consumer VPC", func() error {
		addrs, err := r.LookupHost(context.Background(), ep.EndpointDomain)
		if err == nil && !slices.Equal(addrs, []string{ep.Zones[1].IP.String()}) {
			t.Fatalf("%s = %v, want zone i's %s only", ep.EndpointDomain, addrs, ep.Zones[1].IP)
		}
		return err
	})
}
