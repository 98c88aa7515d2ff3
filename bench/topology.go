package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/server"
)

// Ports of the servers in the provider host (serve child) and of the
// services, proxies and endpoints in front of them.
const (
	portEcho   = 7001
	portSink   = 7002
	portSource = 7003
)

// Addresses of the topology. The VPCs' CIDRs differ so that the direct
// path can route between them; the control-plane VPCs reuse the consumer
// CIDR on purpose (overlap is allowed).
const (
	consumerCIDR = "10.1.0.0/16"
	providerCIDR = "10.2.0.0/16"
	haproxyAddr  = "10.1.250.1" // in the consumer VPC namespace, outside every vSwitch CIDR
	nginxAddr    = "10.1.250.2"
	peerConsumer = "192.168.255.1" // the direct veth, /30
	peerProvider = "192.168.255.2"

	maxEndpointsPerVPC = api.MaxEndpointsPerVPC
)

// The zones of the server's default region (the harness starts it without --zones).
var zoneH, zoneI = server.DefaultZones()[0], server.DefaultZones()[1]

// topology is what the harness built through privlink's API: the
// scenario (provider VPC with the server host, the data-plane service,
// consumer VPC with the client host and the data-plane endpoint) and the
// control-plane service.
type topology struct {
	*scenario.Scenario
	prefix         string
	cpSvc          model.EndpointService
	server, client model.Host // zone h
	eni            string     // the endpoint's IP in zone h
	natENI         string     // the nat service's endpoint IP in zone h (pathNAT)
	vethC, vethP   string     // the direct path's veth ends
}

func (t *topology) ns(id string) string { return t.prefix + "-" + id }

// buildTopology creates both accounts, the provider VPC with the server
// host, the services, the consumer VPC with the client host and the
// data-plane endpoint, and waits until the endpoint is Active.
// dualStack (the ipv6 rows) makes both VPCs dual-stack and the service
// dualstack, so the endpoint also has an IPv6 ENI (ipv6.go).
func buildTopology(ctx context.Context, admin *client.Client, prefix string, dualStack bool) (*topology, error) {
	b, err := scenario.NewBuilder(ctx, admin, "bench-provider", "bench-consumer")
	if err != nil {
		return nil, err
	}
	// The loaded round fills up to 5000 endpoints, 50 per VPC, and every
	// round adds a VPC: beyond the consumer's default quotas.
	many := 1000
	if _, err := admin.SetQuota(ctx, b.ConsumerID, api.SetQuotaRequest{Vpcs: &many, SecurityGroups: &many}); err != nil {
		return nil, fmt.Errorf("raise the bench consumer's quota: %w", err)
	}
	t := &topology{prefix: prefix, Scenario: scenario.New(b, scenario.Plan{
		Provider: scenario.NetworkSpec{Name: "bench-provider", CIDR: providerCIDR, VSwitches: scenario.PerZone([]string{zoneH}, 1),
			Hosts: []scenario.HostSpec{{Name: "server"}}},
		Service: scenario.ServiceSpec{Description: "bench data plane", Ports: []int{portEcho, portSink, portSource}, UDPPorts: []int{portEcho}, AutoAccept: true},
		Consumer: scenario.NetworkSpec{Name: "bench-consumer", CIDR: consumerCIDR, VSwitches: scenario.PerZone([]string{zoneH, zoneI}, 1),
			SecurityGroup: securityGroup(1, 65535), Hosts: []scenario.HostSpec{{Name: "client"}}},
		Endpoint: &scenario.EndpointSpec{VSwitches: []int{0}}, // zone h only
	})}
	if dualStack {
		t.Plan.Provider.IPv6, t.Plan.Consumer.IPv6, t.Plan.Service.AddressIPVersion = true, true, model.AddressDualStack
		sg := t.Plan.Consumer.SecurityGroup
		for _, r := range sg.Rules {
			r.SourceCidr = "fc00::/7" // the consumer VPC's /56 is drawn at creation
			sg.Rules = append(sg.Rules, r)
		}
	}
	if err := t.Build(ctx); err != nil {
		return nil, err
	}
	t.cpSvc, err = t.Publish(ctx, t.ProviderNet, scenario.ServiceSpec{Description: "bench control plane", Ports: []int{portEcho}, AutoAccept: true})
	if err != nil {
		return nil, err
	}
	if t.Endpoint, err = waitActive(ctx, t.Consumer, t.Endpoint.EndpointID, 60*time.Second); err != nil {
		return nil, err
	}
	// The same backends forwarded by kernel NAT: its own service and
	// endpoint (zone h), so both paths run in the same topology and run.
	natSvc, err := t.Publish(ctx, t.ProviderNet, scenario.ServiceSpec{Description: "bench data plane, nat", Ports: []int{portEcho, portSink, portSource},
		AutoAccept: true, Forwarding: model.ForwardNAT})
	if err != nil {
		return nil, err
	}
	natEp, err := t.Connect(ctx, t.ConsumerNet, natSvc, scenario.EndpointSpec{VSwitches: []int{0}})
	if err != nil {
		return nil, err
	}
	if natEp, err = waitActive(ctx, t.Consumer, natEp.EndpointID, 60*time.Second); err != nil {
		return nil, err
	}
	t.natENI = natEp.Zones[0].IP.String()
	t.server, t.client, t.eni = t.ProviderNet.Hosts[0], t.ConsumerNet.Hosts[0], t.Endpoint.Zones[0].IP.String()
	for _, h := range []model.Host{t.server, t.client} {
		if err := waitNetns(ctx, t.ns(h.HostID), 30*time.Second); err != nil {
			return nil, err
		}
	}
	slog.Info("topology ready", "consumerVpc", t.ConsumerNet.VPC.VpcID, "providerVpc", t.ProviderNet.VPC.VpcID,
		"client", t.client.IP, "server", t.server.IP, "endpoint", t.Endpoint.EndpointID, "eni", t.eni)
	return t, nil
}

// securityGroup accepts TCP ports from..to from the consumer CIDR.
func securityGroup(from, to int) *scenario.SecurityGroupSpec {
	udp := scenario.AcceptTCP(from, to, consumerCIDR)
	udp.Protocol = "udp"
	return &scenario.SecurityGroupSpec{Name: "bench", Rules: []model.SecurityGroupRule{scenario.AcceptTCP(from, to, consumerCIDR), udp}}
}

// waitActive polls an endpoint (every 20ms) until it is Active with every
// zone's IP.
func waitActive(ctx context.Context, c *client.Client, id string, timeout time.Duration) (model.Endpoint, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wc := *c
	wc.PollInterval = 20 * time.Millisecond
	return wc.WaitEndpoint(ctx, id, func(ep api.Endpoint) bool {
		return client.Active(ep) && len(ep.Zones) > 0 && ep.Zones[0].IP.IsValid()
	}, nil)
}

// waitNetns waits until the named namespace exists and is mounted.
func waitNetns(ctx context.Context, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		// The agent creates the file, then bind-mounts the namespace on
		// it: until then `ip netns exec` fails on it.
		var st unix.Statfs_t
		if err := unix.Statfs("/run/netns/"+name, &st); err == nil && st.Type == unix.NSFS_MAGIC {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s did not appear within %v", name, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tuneNamespaces widens the ephemeral port range and lets connect() reuse
// TIME_WAIT ports in the namespaces that open connections at a high rate
// (the client, the proxies' dialing side), so connection-rate loads do not
// run out of ports. Namespaces have their own port space and sysctls.
func (t *topology) tuneNamespaces(ctx context.Context) error {
	for _, id := range []string{t.client.HostID, t.server.HostID, t.ConsumerNet.VPC.VpcID, t.ProviderNet.VPC.VpcID} {
		if err := run(ctx, "ip", "netns", "exec", t.ns(id), "sysctl", "-q", "-w",
			"net.ipv4.ip_local_port_range=10000 65000", "net.ipv4.tcp_tw_reuse=1"); err != nil {
			return err
		}
	}
	return nil
}

// addDirect links the two VPC namespaces with a routed veth (what VPC
// peering would do) and adds the baselines' listen addresses to the
// consumer VPC namespace. undo removes both.
func (t *topology) addDirect(ctx context.Context) (undo func() error, err error) {
	cns, pns := t.ns(t.ConsumerNet.VPC.VpcID), t.ns(t.ProviderNet.VPC.VpcID)
	suffix := t.prefix[len(t.prefix)-4:]
	t.vethC, t.vethP = "pbc"+suffix, "pbp"+suffix
	var done []func() error
	undo = func() error {
		var errs []error
		for i := len(done) - 1; i >= 0; i-- {
			errs = append(errs, done[i]())
		}
		done = nil
		return errors.Join(errs...)
	}
	ip := func(args ...string) error { return run(ctx, "ip", args...) }
	steps := []struct {
		do   []string
		undo []string
	}{
		{[]string{"-n", cns, "link", "add", t.vethC, "type", "veth", "peer", "name", t.vethP, "netns", pns},
			[]string{"-n", cns, "link", "del", t.vethC}},
		{[]string{"-n", cns, "addr", "add", peerConsumer + "/30", "dev", t.vethC}, nil},
		{[]string{"-n", pns, "addr", "add", peerProvider + "/30", "dev", t.vethP}, nil},
		{[]string{"-n", cns, "link", "set", t.vethC, "up"}, nil},
		{[]string{"-n", pns, "link", "set", t.vethP, "up"}, nil},
		{[]string{"-n", cns, "route", "add", providerCIDR, "via", peerProvider}, nil},
		{[]string{"-n", pns, "route", "add", consumerCIDR, "via", peerConsumer}, nil},
		// The baselines' addresses live on our veth end (local addresses
		// of the namespace like an ENI): a /32 on the bridge would look
		// like a leftover ENI to a restarted agent, which prunes those.
		{[]string{"-n", cns, "addr", "add", haproxyAddr + "/32", "dev", t.vethC}, nil},
		{[]string{"-n", cns, "addr", "add", nginxAddr + "/32", "dev", t.vethC}, nil},
	}
	for _, s := range steps {
		if err := ip(s.do...); err != nil {
			return undo, err
		}
		if s.undo != nil {
			u := s.undo
			done = append(done, func() error {
				if _, err := os.Stat("/run/netns/" + u[1]); err != nil {
					return nil // the namespace is gone, and what we added with it
				}
				return run(context.Background(), "ip", u...)
			})
		}
	}
	return undo, nil
}
