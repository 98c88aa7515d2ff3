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

// topology is what the harness built through privlink's API.
type topology struct {
	prefix         string
	prov, cons     *client.Client
	provID, consID string
	pVPC, cVPC     model.VPC
	pVSW, cVSW     model.VSwitch // zone h
	server, client model.Host
	svc, cpSvc     model.EndpointService
	sg             model.SecurityGroup
	ep             model.Endpoint
	eni            string // the endpoint's IP in zone h
	vethC, vethP   string // the direct path's veth ends
}

func (t *topology) ns(id string) string { return t.prefix + "-" + id }

// buildTopology creates both accounts, the provider VPC with the server
// host, the services, the consumer VPC with the client host and the
// data-plane endpoint, and waits until the endpoint is Active.
func buildTopology(ctx context.Context, admin *client.Client, prefix string) (*topology, error) {
	t := &topology{prefix: prefix}
	var prov, cons api.AccountWithToken
	var err error
	if t.prov, prov, err = admin.CreateAccountClient(ctx, "bench-provider"); err != nil {
		return nil, err
	}
	if t.cons, cons, err = admin.CreateAccountClient(ctx, "bench-consumer"); err != nil {
		return nil, err
	}
	t.provID, t.consID = prov.AccountID, cons.AccountID
	// Each step uses the IDs the steps before it created.
	steps := []struct {
		what string
		do   func() error
	}{
		{"provider VPC", func() (err error) {
			t.pVPC, err = t.prov.CreateVPC(ctx, api.CreateVPCRequest{Name: "bench-provider", CidrBlock: providerCIDR})
			return err
		}},
		{"provider vSwitch", func() (err error) {
			t.pVSW, err = t.prov.CreateVSwitch(ctx, api.CreateVSwitchRequest{VpcID: t.pVPC.VpcID, ZoneID: zoneH, CidrBlock: "10.2.1.0/24"})
			return err
		}},
		{"server host", func() (err error) {
			t.server, err = t.prov.CreateHost(ctx, api.CreateHostRequest{VSwitchID: t.pVSW.VSwitchID, Name: "server"})
			return err
		}},
		{"data-plane service", func() (err error) {
			t.svc, err = t.prov.CreateService(ctx, api.CreateServiceRequest{Description: "bench data plane", VpcID: t.pVPC.VpcID,
				Ports: []int{portEcho, portSink, portSource}, Resources: []api.BackendSpec{{ZoneID: zoneH, IP: t.server.IP.String()}},
				AutoAcceptEnabled: true, AllowedAccounts: []string{t.consID}})
			return err
		}},
		{"control-plane service", func() (err error) {
			t.cpSvc, err = t.prov.CreateService(ctx, api.CreateServiceRequest{Description: "bench control plane", VpcID: t.pVPC.VpcID,
				Ports: []int{portEcho}, Resources: []api.BackendSpec{{ZoneID: zoneH, IP: t.server.IP.String()}},
				AutoAcceptEnabled: true, AllowedAccounts: []string{t.consID}})
			return err
		}},
		{"consumer VPC", func() (err error) {
			t.cVPC, err = t.cons.CreateVPC(ctx, api.CreateVPCRequest{Name: "bench-consumer", CidrBlock: consumerCIDR})
			return err
		}},
		{"consumer vSwitch h", func() (err error) {
			t.cVSW, err = t.cons.CreateVSwitch(ctx, api.CreateVSwitchRequest{VpcID: t.cVPC.VpcID, ZoneID: zoneH, CidrBlock: "10.1.1.0/24"})
			return err
		}},
		{"consumer vSwitch i", func() error {
			_, err := t.cons.CreateVSwitch(ctx, api.CreateVSwitchRequest{VpcID: t.cVPC.VpcID, ZoneID: zoneI, CidrBlock: "10.1.2.0/24"})
			return err
		}},
		{"security group", func() (err error) {
			t.sg, err = t.cons.CreateSecurityGroup(ctx, sgRequest(t.cVPC.VpcID, "1/65535"))
			return err
		}},
		{"client host", func() (err error) {
			t.client, err = t.cons.CreateHost(ctx, api.CreateHostRequest{VSwitchID: t.cVSW.VSwitchID, Name: "client"})
			return err
		}},
		{"data-plane endpoint", func() (err error) {
			t.ep, err = t.cons.CreateEndpoint(ctx, api.CreateEndpointRequest{ServiceID: t.svc.ServiceID, VpcID: t.cVPC.VpcID,
				SecurityGroupIDs: []string{t.sg.SecurityGroupID}, Zones: []api.EndpointZoneRequest{{ZoneID: zoneH, VSwitchID: t.cVSW.VSwitchID}}})
			return err
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return nil, fmt.Errorf("create %s: %w", s.what, err)
		}
	}
	ep, err := waitActive(ctx, t.cons, t.ep.EndpointID, 60*time.Second)
	if err != nil {
		return nil, err
	}
	t.ep = ep
	t.eni = ep.Zones[0].IP.String()
	for _, h := range []model.Host{t.server, t.client} {
		if err := waitNetns(ctx, t.ns(h.HostID), 30*time.Second); err != nil {
			return nil, err
		}
	}
	slog.Info("topology ready", "consumerVpc", t.cVPC.VpcID, "providerVpc", t.pVPC.VpcID,
		"client", t.client.IP, "server", t.server.IP, "endpoint", t.ep.EndpointID, "eni", t.eni)
	return t, nil
}

func sgRequest(vpcID, ports string) api.CreateSecurityGroupRequest {
	return api.CreateSecurityGroupRequest{VpcID: vpcID, Name: "bench",
		Rules: []model.SecurityGroupRule{{Protocol: "tcp", PortRange: ports, SourceCidr: consumerCIDR, Policy: "accept", Priority: 1}}}
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
	for _, id := range []string{t.client.HostID, t.server.HostID, t.cVPC.VpcID, t.pVPC.VpcID} {
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
	cns, pns := t.ns(t.cVPC.VpcID), t.ns(t.pVPC.VpcID)
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
