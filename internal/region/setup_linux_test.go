//go:build linux

package region

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/lab"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/sampledb"
	"github.com/privlink/privlink/internal/scenario"
)

// The region of every fault test: n1..n3 run privlink server (etcd member,
// API) in a control-plane zone that holds nothing of the endpoint, so
// killing members never kills a data-plane node; n4 and n6 are the nodes of
// zone h that the ENI of zone h moves between, n5 the node of zone i
// (the customer's app host, the vendor's zone i database host and zone i's
// ENI), n7 a third node of zone h holding the vendor's zone h database
// host. Placement takes the least loaded ready node, ties by name, so the
// ENI goes to n4 or n6 before n7 as long as both are Ready, which the
// tests wait for before each fault.
const (
	zoneCP = "cn-hangzhou-k"
	zoneH  = "cn-hangzhou-h"
	zoneI  = "cn-hangzhou-i"

	dbPort   = 3306
	echoPort = 7000
	dbUser   = "acct1:admin:accountadmin"
	dbPass   = "privlink-faults"
)

var bg = context.Background()

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the binary privlinkBin built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// privlinkBin builds cmd/privlink once per test binary.
func privlinkBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "privlink-region-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "privlink")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/privlink/privlink/cmd/privlink").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build privlink: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// env is a running region with the endpoint scenario built in it.
type env struct {
	t      *testing.T
	lab    *lab.Lab
	region *lab.Region
	admin  *client.Client   // from n5, to n1's API
	apis   []*client.Client // from n5, to each member's API

	h1, h2, i *lab.Node // zone h's nodes n4, n6; zone i's node n5
	hb        *lab.Node // n7, zone h, the vendor's zone h database host

	consumerVPC string
	app, db     model.Host // on n5 (db: zone i's database host)
	ep          api.Endpoint
	domain      string            // the endpoint domain
	zoneDomain  map[string]string // zone -> zonal domain
	zoneIP      map[string]netip.Addr

	sock netdrv.Sockets // n5's host namespaces
}

// dataNodes are the nodes that run the data plane of the scenario.
func (e *env) dataNodes() []*lab.Node { return []*lab.Node{e.h1, e.i, e.h2, e.hb} }

// startRegion starts the lab region, builds the scenario through the API
// and starts the vendor's database and echo server; it returns once both
// zones answer through their zonal domains.
func startRegion(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a region of seven lab nodes with the privlink binary")
	}
	l := lab.New(t, lab.Config{Nodes: 7, Zones: []string{zoneCP, zoneCP, zoneCP, zoneH, zoneI, zoneH, zoneH}})
	ctx, cancel := context.WithTimeout(bg, 2*time.Minute)
	defer cancel()
	r, err := l.StartRegion(ctx, lab.RegionConfig{Bin: privlinkBin(t), ServerArgs: []string{"--zones", zoneH + "," + zoneI + "," + zoneCP}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, lab: l, region: r, h1: l.Nodes[3], i: l.Nodes[4], h2: l.Nodes[5], hb: l.Nodes[6],
		zoneDomain: map[string]string{}, zoneIP: map[string]netip.Addr{}}
	for i := range r.Servers {
		c, err := r.Admin(e.i, i)
		if err != nil {
			t.Fatal(err)
		}
		e.apis = append(e.apis, c)
	}
	e.admin = e.apis[0]
	e.waitReady(ctx, l.Nodes...)
	drv, err := netdrv.New("netns", e.i.NetnsPrefix, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.sock = drv.Sockets
	e.build(ctx)
	return e
}

// build creates the vendor's VPC (a database host in zone h on n7 and one
// in zone i on n5), its service on ports 3306 and 7000, the customer's VPC
// (app host in zone i on n5) and an endpoint in zones h and i.
func (e *env) build(ctx context.Context) {
	t := e.t
	b, err := scenario.NewBuilder(ctx, e.admin, "vendor", "customer")
	if err != nil {
		t.Fatal(err)
	}
	vsws := scenario.PerZone([]string{zoneH, zoneI}, 1)
	prov, err := b.Network(ctx, scenario.ProviderSide, scenario.NetworkSpec{Name: "vendor", CIDR: "192.168.0.0/16", VSwitches: vsws})
	if err != nil {
		t.Fatal(err)
	}
	sg := &scenario.SecurityGroupSpec{Name: "sg", Rules: []model.SecurityGroupRule{scenario.AcceptTCP(dbPort, dbPort, "192.168.0.0/16"), scenario.AcceptTCP(echoPort, echoPort, "192.168.0.0/16")}}
	cons, err := b.Network(ctx, scenario.ConsumerSide, scenario.NetworkSpec{Name: "customer", CIDR: "192.168.0.0/16", VSwitches: vsws, SecurityGroup: sg})
	if err != nil {
		t.Fatal(err)
	}
	// The vendor's database hosts: zone i's on n5, zone h's on n7; the
	// faults hit n4 and n6 only.
	dbH, err := b.Provider.CreateHost(ctx, api.CreateHostRequest{VSwitchID: prov.VSwitches[0].VSwitchID, Name: "db-h", NodeName: e.hb.Name})
	if err != nil {
		t.Fatal(err)
	}
	if e.db, err = b.Provider.CreateHost(ctx, api.CreateHostRequest{VSwitchID: prov.VSwitches[1].VSwitchID, Name: "db-i", NodeName: e.i.Name}); err != nil {
		t.Fatal(err)
	}
	if e.app, err = b.Consumer.CreateHost(ctx, api.CreateHostRequest{VSwitchID: cons.VSwitches[1].VSwitchID, Name: "app", NodeName: e.i.Name}); err != nil {
		t.Fatal(err)
	}
	prov.Hosts = []model.Host{dbH, e.db}
	e.consumerVPC = cons.VPC.VpcID
	e.startBackends(e.hb.NetnsPrefix + "-" + dbH.HostID)
	e.startBackends(e.i.NetnsPrefix + "-" + e.db.HostID)
	svc, err := b.Publish(ctx, prov, scenario.ServiceSpec{Description: "faults", Ports: []int{dbPort, echoPort}, AutoAccept: true})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := b.Connect(ctx, cons, svc, scenario.EndpointSpec{Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the endpoint connected in both zones", func() error {
		got, err := b.Consumer.GetEndpoint(ctx, ep.EndpointID)
		if err != nil {
			return err
		}
		ep = got
		for _, z := range ep.Zones {
			if z.ZoneStatus != model.ZoneConnected {
				return fmt.Errorf("zone %s is %s", z.ZoneID, z.ZoneStatus)
			}
		}
		return nil
	})
	e.ep, e.domain = ep, ep.EndpointDomain
	for _, z := range ep.Zones {
		e.zoneDomain[z.ZoneID], e.zoneIP[z.ZoneID] = z.ZoneDomain, z.IP
	}
	for _, name := range []string{e.zoneDomain[zoneH], e.zoneDomain[zoneI], e.domain} {
		eventually(t, 30*time.Second, "echo through "+name, func() error { return e.echoOnce(ctx, name, time.Second) })
	}
}

// startBackends runs a vendor database (sampledb) and a TCP echo server
// inside the host namespace hostNS, in this process.
func (e *env) startBackends(hostNS string) {
	t := e.t
	eventually(t, 30*time.Second, "the namespace "+hostNS, func() error {
		h, err := netns.GetFromName(hostNS)
		if err == nil {
			h.Close()
		}
		return err
	})
	db, err := sampledb.New(sampledb.Config{Listen: fmt.Sprintf(":%d", dbPort), Users: []sampledb.User{{Account: "acct1", Name: "admin", Role: "accountadmin", Password: dbPass}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := inNamedNS(hostNS, db.Start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var ln net.Listener
	if err := inNamedNS(hostNS, func() (err error) { ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", echoPort)); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
}

// inNamedNS runs fn with the thread in the named namespace; sockets fn
// creates stay there.
func inNamedNS(name string, fn func() error) error {
	h, err := netns.GetFromName(name)
	if err != nil {
		return err
	}
	defer h.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	origin, err := netns.Get()
	if err != nil {
		return err
	}
	defer origin.Close()
	if err := netns.Set(h); err != nil {
		return err
	}
	ferr := fn()
	if err := netns.Set(origin); err != nil {
		panic("region test: cannot restore the network namespace: " + err.Error())
	}
	return ferr
}

// waitReady waits until every node in nodes is Ready in node list.
func (e *env) waitReady(ctx context.Context, nodes ...*lab.Node) {
	e.t.Helper()
	e.waitReadyVia(ctx, e.admin, nodes...)
}

// waitReadyVia is waitReady asking the API c.
func (e *env) waitReadyVia(ctx context.Context, c *client.Client, nodes ...*lab.Node) {
	e.t.Helper()
	eventually(e.t, 60*time.Second, "nodes Ready", func() error {
		list, err := c.ListNodes(ctx)
		if err != nil {
			return err
		}
		ready := map[string]bool{}
		for _, n := range list {
			ready[n.Name] = n.Status == "Ready"
		}
		for _, n := range nodes {
			if !ready[n.Name] {
				return fmt.Errorf("%s not Ready", n.Name)
			}
		}
		return nil
	})
}

// proc is the privlink process of node n.
func (e *env) proc(n *lab.Node) *lab.Proc {
	if p := e.region.Agents[n.Name]; p != nil {
		return p
	}
	for i, m := range e.lab.Nodes {
		if m == n && i < len(e.region.Servers) {
			return e.region.Servers[i]
		}
	}
	e.t.Fatalf("no process on %s", n.Name)
	return nil
}

// eventually retries fn every 100 ms until it succeeds or d passes.
func eventually(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dial resolves name through the customer VPC's resolver from the app
// host and connects to the addresses in order, each within timeout (as a
// MySQL client or any getaddrinfo caller does).
func (e *env) dial(ctx context.Context, name string, port int, timeout time.Duration) (net.Conn, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	ips, err := netdrv.HostResolver(e.sock, e.app.HostID, e.sock.ResolverAddr(e.consumerVPC)).LookupNetIP(rctx, "ip4", name)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", name, err)
	}
	var errs []error
	for _, ip := range ips {
		dctx, cancel := context.WithTimeout(ctx, timeout)
		c, err := e.sock.DialHost(dctx, e.app.HostID, netip.AddrPortFrom(ip, uint16(port)))
		cancel()
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("connect %s %v: %w", name, ips, errors.Join(errs...))
}

// echoOnce opens a new connection to name's echo port and exchanges a line.
func (e *env) echoOnce(ctx context.Context, name string, timeout time.Duration) error {
	c, err := e.dial(ctx, name, echoPort, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	return exchange(c, timeout)
}

// exchange writes 64 bytes and reads them back within timeout.
func exchange(c net.Conn, timeout time.Duration) error {
	msg := []byte("privlink fault test: 64 bytes through the endpoint, echoed back\n")
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != string(msg) {
		return fmt.Errorf("echo: got %q", got)
	}
	return nil
}

var errNotYet = errors.New("not yet")
