package testenv

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
)

// Scenario is the canonical two-account, two-zone topology
// (scenario.Canonical), with its parts under the names tests use.
type Scenario struct {
	Provider, Consumer     *client.Client
	ProviderID, ConsumerID string
	ProviderVPC            model.VPC
	ProviderHosts          []model.Host // one per zone
	Service                model.EndpointService
	ConsumerVPC            model.VPC
	ConsumerVSwitches      []model.VSwitch // one per zone
	SG                     model.SecurityGroup
	ConsumerHost           model.Host // in the first zone
	Endpoint               model.Endpoint
}

// ScenarioOptions shape it; Zones default to the server's.
type ScenarioOptions = scenario.Options

// BuildScenario creates it all through the API as two new accounts,
// "provider" and "consumer"; the endpoint is created but not waited for.
func BuildScenario(t testing.TB, e *Env, o ScenarioOptions) *Scenario {
	t.Helper()
	return BuildScenarioServing(t, e, o, nil)
}

// BuildScenarioServing is BuildScenario with serve (if not nil) called
// once the provider's hosts and the service exist and before the
// endpoint is created: the zone agents check a service's backends once an
// endpoint needs them, so their first checks find the backends listening
// instead of marking them down until the next check (a kernel NAT flow
// with no healthy backend refuses connections).
func BuildScenarioServing(t testing.TB, e *Env, o ScenarioOptions, serve func(*Scenario)) *Scenario {
	t.Helper()
	if o.Zones == nil {
		o.Zones = e.Config().Zones
	}
	ctx := context.Background()
	b, err := scenario.NewBuilder(ctx, e.Admin, "provider", "consumer")
	must(t, err)
	s := scenario.New(b, scenario.Canonical(o))
	for _, phase := range []func(context.Context) error{s.CreateProvider, s.CreateService, s.CreateConsumer} {
		must(t, phase(ctx))
	}
	view := func() *Scenario {
		return &Scenario{
			Provider: b.Provider, Consumer: b.Consumer, ProviderID: b.ProviderID, ConsumerID: b.ConsumerID,
			ProviderVPC: s.ProviderNet.VPC, ProviderHosts: s.ProviderNet.Hosts, Service: s.Service,
			ConsumerVPC: s.ConsumerNet.VPC, ConsumerVSwitches: s.ConsumerNet.VSwitches, SG: s.ConsumerNet.SG,
			ConsumerHost: s.ConsumerNet.Hosts[0], Endpoint: s.Endpoint,
		}
	}
	if serve != nil {
		serve(view())
	}
	if s.Plan.Endpoint != nil {
		must(t, s.CreateEndpoint(ctx))
	}
	return view()
}

// WaitEndpoint polls until cond holds for the consumer's view of the endpoint.
func (s *Scenario) WaitEndpoint(t testing.TB, cond func(model.Endpoint) bool) model.Endpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ep, err := s.Consumer.WaitEndpoint(ctx, s.Endpoint.EndpointID, cond, nil)
	if err != nil {
		t.Fatalf("endpoint never reached the wanted state: %v; last: %+v", err, ep)
	}
	return ep
}

// Active is a WaitEndpoint condition.
var Active = client.Active

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Eventually retries f every 50ms for up to 10s and fails the test with
// f's last error if it never succeeds.
func Eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// Serve runs a TCP server inside a host on port, handling each connection
// with handle (which need not close it), until the test ends.
func (e *Env) Serve(t testing.TB, hostID string, port uint16, handle func(net.Conn)) {
	t.Helper()
	hs := e.Driver.Sockets
	var ln net.Listener
	Eventually(t, "listen in host "+hostID, func() (err error) {
		ln, err = hs.ListenHost(hostID, netip.AddrPortFrom(netip.IPv4Unspecified(), port))
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
}
