package resolver_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/resolver"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

var bg = context.Background()

func needTool(t *testing.T, name string) {
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("needs %s (scripts/install-deps.sh installs it)", name)
	}
}

// inHost runs argv inside a host namespace (as `privlink host exec` does).
func inHost(t *testing.T, e *testenv.Env, hostID string, argv ...string) (string, error) {
	t.Helper()
	out, err := e.Driver.Sockets.ExecCommand(bg, hostID, argv).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func digShort(t *testing.T, e *testenv.Env, hostID, name string) []string {
	t.Helper()
	out, err := inHost(t, e, hostID, "dig", "+short", "+time=1", "+tries=1", name)
	if err != nil {
		t.Fatalf("dig %s: %v: %s", name, err, out)
	}
	f := strings.Fields(out)
	slices.Sort(f)
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPrivateDNS(t *testing.T) {
	testenv.NeedRoot(t)
	needTool(t, "dig")
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	ctx, cancel := context.WithCancel(bg)
	cache := store.NewCache(e.Store, slog.Default())
	go cache.Run(ctx)
	zoneI := agent.New(agent.Config{Zone: "cn-hangzhou-i", Store: e.Store, Cache: cache, Driver: e.Driver, Metrics: proxy.NewMetrics(nil), Logger: slog.Default()})
	go zoneI.Run(ctx)
	t.Cleanup(func() { cancel(); <-zoneI.Done() })

	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	hs := e.Driver.Sockets
	for _, h := range s.ProviderHosts {
		e.Serve(t, h.HostID, 6001, func(c net.Conn) { fmt.Fprintf(c, "hello from %s\n", h.HostID) })
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	host := s.ConsumerHost.HostID
	all := []string{ep.Zones[0].IP.String(), ep.Zones[1].IP.String()}
	slices.Sort(all)

	// dig from the consumer host, through the resolver in its VPC.
	testenv.Eventually(t, "endpoint domain resolves", func() error {
		if got := digShort(t, e, host, ep.EndpointDomain); !slices.Equal(got, all) {
			return fmt.Errorf("dig %s = %v, want %v", ep.EndpointDomain, got, all)
		}
		return nil
	})
	for _, z := range ep.Zones {
		if got := digShort(t, e, host, z.ZoneDomain); !slices.Equal(got, []string{z.IP.String()}) {
			t.Errorf("zone domain %s = %v, want %s", z.ZoneDomain, got, z.IP)
		}
	}
	for _, name := range []string{s.Service.Name, s.Service.ServiceDomain} {
		if got := digShort(t, e, host, name); !slices.Equal(got, all) {
			t.Errorf("service name %s = %v, want %v", name, got, all)
		}
	}
	// Go's resolver, dialing the VPC resolver from inside the host.
	r := netdrv.HostResolver(hs, host, e.Driver.Sockets.ResolverAddr(s.ConsumerVPC.VpcID))
	addrs, err := r.LookupHost(bg, ep.EndpointDomain)
	slices.Sort(addrs)
	if err != nil || !slices.Equal(addrs, all) {
		t.Errorf("Go resolver: %v %v", addrs, err)
	}
	// A client connecting by name (glibc resolver via /etc/netns resolv.conf).
	out, err := inHost(t, e, host, "bash", "-c", "exec 3<>/dev/tcp/"+ep.EndpointDomain+"/6001 && head -1 <&3")
	if err != nil || !strings.HasPrefix(out, "hello from i-") {
		t.Errorf("connect by endpoint domain: %v %q", err, out)
	}
	out, err = inHost(t, e, host, "bash", "-c", "exec 3<>/dev/tcp/"+s.Service.Name+"/6001 && head -1 <&3")
	if err != nil || !strings.HasPrefix(out, "hello from i-") {
		t.Errorf("connect by service name: %v %q", err, out)
	}
	// Negative answers: AAAA is NODATA, unknown names NXDOMAIN with SOA.
	if out, _ := inHost(t, e, host, "dig", "+time=1", "AAAA", ep.EndpointDomain); !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "ANSWER: 0") || !strings.Contains(out, "SOA") {
		t.Errorf("AAAA not NODATA with SOA:\n%s", out)
	}
	// Another VPC's host gets NXDOMAIN for this endpoint.
	other, err := s.Consumer.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	must(t, err)
	ovsw, err := s.Consumer.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: other.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.0.1.0/24"})
	must(t, err)
	oh, err := s.Consumer.CreateHost(bg, api.CreateHostRequest{VSwitchID: ovsw.VSwitchID})
	must(t, err)
	testenv.Eventually(t, "other VPC gets NXDOMAIN", func() error {
		out, _ := inHost(t, e, oh.HostID, "dig", "+time=1", "+tries=1", ep.EndpointDomain)
		if !strings.Contains(out, "status: NXDOMAIN") {
			return fmt.Errorf("other VPC: %s", out)
		}
		return nil
	})
	// Stopping zone i's agent withdraws its address; a new agent brings it back.
	cancel()
	<-zoneI.Done()
	start := time.Now()
	testenv.Eventually(t, "zone i withdrawn", func() error {
		if got := digShort(t, e, host, ep.EndpointDomain); !slices.Equal(got, []string{ep.Zones[0].IP.String()}) {
			return fmt.Errorf("after stopping zone i: %v", got)
		}
		return nil
	})
	t.Logf("zone withdrawn from DNS %s after its agent stopped", time.Since(start))
	ctx2, cancel2 := context.WithCancel(bg)
	cache2 := store.NewCache(e.Store, slog.Default())
	go cache2.Run(ctx2)
	again := agent.New(agent.Config{Zone: "cn-hangzhou-i", Store: e.Store, Cache: cache2, Driver: e.Driver, Metrics: proxy.NewMetrics(nil), Logger: slog.Default()})
	go again.Run(ctx2)
	t.Cleanup(func() { cancel2(); <-again.Done() })
	testenv.Eventually(t, "zone i back", func() error {
		if got := digShort(t, e, host, ep.EndpointDomain); !slices.Equal(got, all) {
			return fmt.Errorf("after restart: %v", got)
		}
		return nil
	})
}

// TestWaitsForTheAgentsNamespace checks that the resolver creates no VPC: it
// serves a VPC of its zones only once the VPC exists in the driver (the
// agent's job, played here by the test), retrying on its ticker until then;
// Settled (what a handoff's successor waits for) says when it serves all.
func TestWaitsForTheAgentsNamespace(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: netdrv.Loopback, AgentZones: []string{}})
	c, _ := e.Account(t, "consumer")
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.9.0.0/16"})
	must(t, err)
	_, err = c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.9.1.0/24"})
	must(t, err)

	drv, err := netdrv.New(netdrv.Loopback, "", slog.Default())
	must(t, err)
	srv, err := dns.New(dns.Config{Zone: "cn-hangzhou.privatelink.internal", Logger: slog.Default()})
	must(t, err)
	r := resolver.New(resolver.Config{Cache: e.Cache, Sockets: drv.Sockets, DNS: srv, Logger: slog.Default(), Zones: []string{"cn-hangzhou-h"}})
	ctx, cancel := context.WithCancel(bg)
	go r.Run(ctx)
	t.Cleanup(func() { cancel(); <-r.Done(); srv.Close() })

	addr := drv.Sockets.ResolverAddr(vpc.VpcID).String()
	serving := func() error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	}
	time.Sleep(1500 * time.Millisecond) // a snapshot and a ticker retry
	if serving() == nil {
		t.Fatal("the resolver serves a VPC that no agent created")
	}
	if drv.Sockets.HasVPC(vpc.VpcID) {
		t.Fatal("the resolver created the VPC")
	}
	if r.Settled() {
		t.Error("Settled while a VPC of its zones waits")
	}
	must(t, drv.Topology.EnsureVPC(vpc.VpcID))
	testenv.Eventually(t, "resolver serving once the VPC exists", serving)
	testenv.Eventually(t, "Settled once serving", func() error {
		if !r.Settled() {
			return errors.New("not settled")
		}
		return nil
	})
}

// TestEndpointWithoutZones: an endpoint created with no zone is Active at
// once with no address; the agents serve the VPC's other endpoint as
// before and the VPC resolver has no answer for it (NXDOMAIN) until a zone
// is added, which then connects, resolves and carries traffic.
func TestEndpointWithoutZones(t *testing.T) {
	testenv.NeedRoot(t)
	needTool(t, "dig")
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Zones: []string{"cn-hangzhou-h"}})
	for _, h := range s.ProviderHosts {
		e.Serve(t, h.HostID, 6001, func(c net.Conn) {
			fmt.Fprintf(c, "hello from %s\n", h.HostID)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.Copy(c, c) // then echo, until the client goes
		})
	}
	first := s.WaitEndpoint(t, testenv.Active)
	host := s.ConsumerHost.HostID

	bare, err := s.Consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: s.Service.ServiceID, VpcID: s.ConsumerVPC.VpcID,
		SecurityGroupIDs: []string{s.SG.SecurityGroupID}, Name: "no-zone-yet"})
	must(t, err)
	if bare.EndpointStatus != "Active" || len(bare.Zones) != 0 || bare.ConnectionStatus != "Connected" {
		t.Fatalf("created without zones: status %s, connection %s, zones %+v", bare.EndpointStatus, bare.ConnectionStatus, bare.Zones)
	}
	// The first endpoint still resolves (the resolver and agent took the
	// zoneless one in their stride); the zoneless one has no answer.
	testenv.Eventually(t, "first endpoint resolves", func() error {
		if got := digShort(t, e, host, first.EndpointDomain); !slices.Equal(got, []string{first.Zones[0].IP.String()}) {
			return fmt.Errorf("dig %s = %v", first.EndpointDomain, got)
		}
		return nil
	})
	if out, _ := inHost(t, e, host, "dig", "+time=1", "+tries=1", bare.EndpointDomain); !strings.Contains(out, "status: NXDOMAIN") {
		t.Fatalf("a zoneless endpoint answers:\n%s", out)
	}
	if got, err := s.Consumer.GetEndpoint(bg, bare.EndpointID); err != nil || got.EndpointStatus != "Active" || len(got.Zones) != 0 {
		t.Fatalf("read back: %+v %v", got, err)
	}

	// A zone added later connects, resolves and carries traffic.
	got, err := s.Consumer.AddEndpointZone(bg, bare.EndpointID, api.EndpointZoneRequest{ZoneID: "cn-hangzhou-h", VSwitchID: s.ConsumerVSwitches[0].VSwitchID})
	must(t, err)
	ip := got.Zones[0].IP.String()
	testenv.Eventually(t, "added zone resolves", func() error {
		if got := digShort(t, e, host, bare.EndpointDomain); !slices.Equal(got, []string{ip}) {
			return fmt.Errorf("dig %s = %v, want %s", bare.EndpointDomain, got, ip)
		}
		return nil
	})
	out, err := inHost(t, e, host, "bash", "-c", "exec 3<>/dev/tcp/"+bare.EndpointDomain+"/6001 && head -1 <&3")
	if err != nil || !strings.HasPrefix(out, "hello from i-") {
		t.Errorf("connect through the added zone: %v %q", err, out)
	}

	// Tagging and regrouping rewrite the endpoint's record: a live
	// connection through it stays up and new ones still pass.
	conn, err := e.Driver.Sockets.DialHost(bg, host, netip.AddrPortFrom(got.Zones[0].IP, 6001))
	must(t, err)
	defer conn.Close()
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "hello from") {
		t.Fatalf("live connection: %q %v", line, err)
	}
	_, err = s.Consumer.TagResources(bg, api.TagResourcesRequest{ResourceType: api.ResourceEndpoint, ResourceIDs: []string{bare.EndpointID}, Tags: []api.Tag{{Key: "env", Value: "prod"}}})
	must(t, err)
	_, err = s.Consumer.ChangeResourceGroup(bg, api.ChangeResourceGroupRequest{ResourceType: api.ResourceEndpoint, ResourceID: bare.EndpointID, ResourceGroupID: "rg-a"})
	must(t, err)
	time.Sleep(300 * time.Millisecond) // let the agent see the rewrite (it must change nothing)
	fmt.Fprintf(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("the live connection broke after tagging: %q %v", line, err)
	}
}
