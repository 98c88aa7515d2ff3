//go:build linux

package agent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/sampledb"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// The proxy path across nodes (issue 12 item 4): a client host on n1, the
// ENI served by n2, the backend on n3 reached through n2's copy of the
// provider VPC and its overlay; PROXY v2, security groups, bandwidth caps,
// revocation and zone affinity behave as on one node.

// crossOpts shapes the endpoint crossSetup builds.
type crossOpts struct {
	ports         []int
	proxyProtocol bool
	rules         func(client netip.Addr) []model.SecurityGroupRule // nil: accept the consumer VPC on every port
}

// cross is an endpoint whose client host and backend live on given nodes.
type cross struct {
	prov, cons  *client.Client
	svc         api.EndpointService
	ep          api.Endpoint
	sg          string
	consumerVPC string
	consumerVSW string
	client      api.Host
	backend     api.Host
}

// crossSetup builds a provider VPC with a backend host on backend (serve
// starts its servers) and a consumer VPC with a client host on clientNode
// and an auto-accepted endpoint of zone labZone; no placement yet.
func crossSetup(t *testing.T, e *testenv.Env, clientNode, backend *labNode, o crossOpts, serve func(hostID string)) cross {
	t.Helper()
	var x cross
	var consID string
	x.prov, _ = e.Account(t, "provider")
	x.cons, consID = e.Account(t, "consumer")
	pv, err := x.prov.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	must(t, err)
	pvsw, err := x.prov.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: pv.VpcID, ZoneID: labZone, CidrBlock: "10.0.1.0/24"})
	must(t, err)
	x.backend, err = x.prov.CreateHost(bg, api.CreateHostRequest{VSwitchID: pvsw.VSwitchID, NodeName: backend.Name})
	must(t, err)
	serve(x.backend.HostID)
	x.svc, err = x.prov.CreateService(bg, api.CreateServiceRequest{VpcID: pv.VpcID, Ports: o.ports, ProxyProtocol: o.proxyProtocol,
		Resources: []api.BackendSpec{{ZoneID: labZone, IP: x.backend.IP.String()}}, AutoAcceptEnabled: true, AllowedAccounts: []string{consID}})
	must(t, err)
	cv, err := x.cons.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"}) // the provider's CIDR too
	must(t, err)
	x.consumerVPC = cv.VpcID
	cvsw, err := x.cons.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: cv.VpcID, ZoneID: labZone, CidrBlock: "10.0.1.0/24"})
	must(t, err)
	x.consumerVSW = cvsw.VSwitchID
	x.client, err = x.cons.CreateHost(bg, api.CreateHostRequest{VSwitchID: cvsw.VSwitchID, NodeName: clientNode.Name})
	must(t, err)
	rules := []model.SecurityGroupRule{scenario.AcceptTCP(1, 65535, "10.0.0.0/16")}
	if o.rules != nil {
		rules = o.rules(x.client.IP)
	}
	sg, err := x.cons.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: cv.VpcID, Rules: rules})
	must(t, err)
	x.sg = sg.SecurityGroupID
	x.ep, err = x.cons.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: x.svc.ServiceID, VpcID: cv.VpcID,
		SecurityGroupIDs: []string{sg.SecurityGroupID}, Zones: []api.EndpointZoneRequest{{ZoneID: labZone, VSwitchID: cvsw.VSwitchID}}})
	must(t, err)
	return x
}

// placeOnly places the endpoint's ENI on owner and waits until no other
// node holds it: a connection opened earlier could land on the node the
// placement controller chose first and be cut by the move.
func placeOnly(t *testing.T, e *testenv.Env, epID string, eni netip.Addr, owner *labNode, nodes []*labNode) {
	t.Helper()
	place(t, e, epID, owner)
	testenv.Eventually(t, "ENI only on "+owner.Name, func() error {
		for _, n := range nodes {
			if has := n.hasENI(t, eni); has != (n == owner) {
				return fmt.Errorf("%s holds the ENI: %v", n.Name, has)
			}
		}
		return nil
	})
}

// serve runs handle for each connection accepted on port inside a host of
// n; wrap (may be nil) wraps the listener.
func (n *labNode) serve(t *testing.T, hostID string, port uint16, wrap func(net.Listener) net.Listener, handle func(net.Conn)) {
	t.Helper()
	var ln net.Listener
	testenv.Eventually(t, "listen in "+hostID, func() (err error) {
		ln, err = n.drv.Sockets.ListenHost(hostID, netip.AddrPortFrom(netip.IPv4Unspecified(), port))
		return err
	})
	t.Cleanup(func() { ln.Close() })
	if wrap != nil {
		ln = wrap(ln)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}

// dial connects from a host on n.
func (n *labNode) dial(hostID string, addr netip.AddrPort) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	return n.drv.Sockets.DialHost(ctx, hostID, addr)
}

// live is a connection from a client host through an ENI that answers
// pings (the backend runs serveName).
type live struct {
	c net.Conn
	r *bufio.Reader
}

// liveConn waits for a connection that carries a line each way.
func (n *labNode) liveConn(t *testing.T, hostID string, addr netip.AddrPort) live {
	t.Helper()
	var l live
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var c net.Conn
		if c, err = n.dial(hostID, addr); err != nil {
			continue
		}
		l = live{c, bufio.NewReader(c)}
		if err = ping(l.c, l.r); err == nil {
			t.Cleanup(func() { l.c.Close() })
			return l
		}
		c.Close()
	}
	n.dumpNetns(t)
	t.Fatalf("live connection from %s to %s: %v", hostID, addr, err)
	return l
}

// cutWithin waits for the live connection to be closed by the far side
// and returns how long it took from start (fails after 3 s).
func (l live) cutWithin(t *testing.T, start time.Time, what string) {
	t.Helper()
	l.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := l.r.ReadByte()
	took := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the live connection is still open %s later", what, took)
	}
	if took > time.Second {
		t.Errorf("%s closed the live connection after %s, want < 1s (as on one node)", what, took)
	}
	t.Logf("%s closed the live connection across nodes in %s (%v)", what, took, err)
}

// TestNodesProxyProtocol: client host on n1, ENI on n2, backend on n3 (a
// go-proxyproto listener in the provider host): the backend sees the
// consumer host's address as source, the ENI and port as destination, and
// the service's default TLVs carrying the consumer VPC and endpoint IDs.
func TestNodesProxyProtocol(t *testing.T) {
	e, nodes := startLabNodes(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	x := crossSetup(t, e, n1, n3, crossOpts{ports: []int{6001}, proxyProtocol: true}, func(hostID string) {
		n3.serve(t, hostID, 6001, func(ln net.Listener) net.Listener { return &proxyproto.Listener{Listener: ln} }, func(c net.Conn) {
			hdr := c.(*proxyproto.Conn).ProxyHeader()
			if hdr == nil {
				return // a health check
			}
			tlvs, _ := hdr.TLVs()
			vpc, ep, svc := sampledb.ParseAlibabaTLVs(tlvs)
			fmt.Fprintf(c, "v%d src=%s dst=%s vpc=%s ep=%s svc=%s\n", hdr.Version,
				hdr.SourceAddr.(*net.TCPAddr).IP, hdr.DestinationAddr, vpc, ep, svc)
		})
	})
	eni := x.ep.Zones[0].IP
	placeOnly(t, e, x.ep.EndpointID, eni, n2, nodes)
	want := fmt.Sprintf("v2 src=%s dst=%s:6001 vpc=%s ep=%s svc=", x.client.IP, eni, x.consumerVPC, x.ep.EndpointID)
	testenv.Eventually(t, "the backend on n3 reads the PROXY header sent by n2", func() error {
		c, err := n1.dial(x.client.HostID, netip.AddrPortFrom(eni, 6001))
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if got := strings.TrimSpace(line); got != want {
			return fmt.Errorf("backend says %q (%v), want %q", got, err, want)
		}
		return nil
	})
	if !n2.hasENI(t, eni) || n1.hasENI(t, eni) || n3.hasENI(t, eni) {
		t.Fatal("the ENI is not on n2 alone: the test did not cross nodes")
	}
}

// TestNodesSecurityGroups: across nodes, a rule allowing the client host
// lets it in; a drop rule for another consumer host (on n3) cuts that
// host's live connection and refuses it while the client carries on;
// removing the client's rules cuts its live connection within 1 s and
// refuses new ones.
func TestNodesSecurityGroups(t *testing.T) {
	e, nodes := startLabNodes(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	x := crossSetup(t, e, n1, n3, crossOpts{ports: []int{6001}, rules: func(c netip.Addr) []model.SecurityGroupRule {
		return []model.SecurityGroupRule{scenario.AcceptTCP(6001, 6001, c.String()+"/32")}
	}}, func(hostID string) { n3.serveName(t, hostID, 6001, "backend") })
	other, err := x.cons.CreateHost(bg, api.CreateHostRequest{VSwitchID: x.consumerVSW, NodeName: n3.Name, Name: "other"})
	must(t, err)
	vpcWide := scenario.AcceptTCP(6001, 6001, "10.0.0.0/16")
	vpcWide.Priority = 100
	_, err = x.cons.AuthorizeSecurityGroup(bg, x.sg, api.RulesRequest{Rules: []api.SecurityGroupRule{vpcWide}})
	must(t, err)
	eni := x.ep.Zones[0].IP
	addr := netip.AddrPortFrom(eni, 6001)
	placeOnly(t, e, x.ep.EndpointID, eni, n2, nodes)
	mine := n1.liveConn(t, x.client.HostID, addr)
	theirs := n3.liveConn(t, other.HostID, addr)

	deny := model.SecurityGroupRule{Protocol: "tcp", PortRange: "6001/6001", SourceCidr: other.IP.String() + "/32", Policy: "drop", Priority: 1}
	start := time.Now()
	_, err = x.cons.AuthorizeSecurityGroup(bg, x.sg, api.RulesRequest{Rules: []api.SecurityGroupRule{deny}})
	must(t, err)
	theirs.cutWithin(t, start, "a drop rule for the other host")
	if err := ping(mine.c, mine.r); err != nil {
		t.Fatalf("the drop rule for another source cut the client's live connection: %v", err)
	}
	if got, err := n1.hello(x.client.HostID, addr.String()); err != nil || got != "backend hi" {
		t.Errorf("new connection from the allowed client after a drop for another source: %q, %v", got, err)
	}
	if got, err := n3.hello(other.HostID, addr.String()); err == nil {
		t.Errorf("the dropped host connected: %q", got)
	}

	// The VPC-wide rule goes: the client's /32 still lets it in.
	_, err = x.cons.RevokeSecurityGroup(bg, x.sg, api.RulesRequest{Rules: []api.SecurityGroupRule{vpcWide}})
	must(t, err)
	time.Sleep(300 * time.Millisecond) // let the agent apply it: the connection must outlive it
	if err := ping(mine.c, mine.r); err != nil {
		t.Fatalf("client's live connection, still allowed by its /32 rule: %v", err)
	}
	start = time.Now()
	_, err = x.cons.RevokeSecurityGroup(bg, x.sg, api.RulesRequest{Rules: []api.SecurityGroupRule{scenario.AcceptTCP(6001, 6001, x.client.IP.String()+"/32")}})
	must(t, err)
	mine.cutWithin(t, start, "removing the client's rule")
	if got, err := n1.hello(x.client.HostID, addr.String()); err == nil {
		t.Errorf("new connection with no rule allowing it was proxied: %q", got)
	}
}

// TestNodesRevocation: rejecting the endpoint connection cuts the live
// connection through the ENI on n2 within 1 s and refuses new ones.
func TestNodesRevocation(t *testing.T) {
	e, nodes := startLabNodes(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	x := crossSetup(t, e, n1, n3, crossOpts{ports: []int{6001}}, func(hostID string) { n3.serveName(t, hostID, 6001, "backend") })
	addr := netip.AddrPortFrom(x.ep.Zones[0].IP, 6001)
	placeOnly(t, e, x.ep.EndpointID, x.ep.Zones[0].IP, n2, nodes)
	l := n1.liveConn(t, x.client.HostID, addr)
	start := time.Now()
	_, err := x.prov.RejectConnection(bg, x.svc.ServiceID, x.ep.EndpointID)
	must(t, err)
	l.cutWithin(t, start, "rejecting the connection")
	if got, err := n1.hello(x.client.HostID, addr.String()); err == nil {
		t.Errorf("a rejected endpoint carried a new connection: %q", got)
	}
}

// TestNodesBandwidthCap: the provider caps the endpoint at 8 Mbps; two
// parallel 512 KiB transfers (downloads from the backend on n3, then
// uploads to it) through the ENI on n2 together stay under twice the cap
// (the tolerance of the single-node TestBandwidthSharedPerEndpoint);
// without the cap they run above it (so the check can fail).
func TestNodesBandwidthCap(t *testing.T) {
	const (
		mbps = 8
		size = 512 << 10
	)
	e, nodes := startLabNodes(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	x := crossSetup(t, e, n1, n3, crossOpts{ports: []int{6002, 6003}}, func(hostID string) {
		n3.serve(t, hostID, 6002, nil, func(c net.Conn) { // "out": the backend sends size bytes
			c.SetDeadline(time.Now().Add(30 * time.Second))
			c.Write(make([]byte, size))
		})
		n3.serve(t, hostID, 6003, nil, func(c net.Conn) { // "in": the backend counts what it got
			c.SetDeadline(time.Now().Add(30 * time.Second))
			n, _ := io.Copy(io.Discard, c)
			fmt.Fprintf(c, "%d\n", n)
		})
	})
	placeOnly(t, e, x.ep.EndpointID, x.ep.Zones[0].IP, n2, nodes)
	// transfer moves size bytes on each of two parallel connections and
	// returns their joint rate in Mbps.
	transfer := func(dir string) (float64, error) {
		port := uint16(6002)
		if dir == "in" {
			port = 6003
		}
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := n1.dial(x.client.HostID, netip.AddrPortFrom(x.ep.Zones[0].IP, port))
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				if dir == "out" {
					if n, err := io.Copy(io.Discard, c); err != nil || n != size {
						errs <- fmt.Errorf("read %d of %d bytes: %v", n, size, err)
					}
					return
				}
				if _, err := c.Write(make([]byte, size)); err != nil {
					errs <- err
					return
				}
				c.(interface{ CloseWrite() error }).CloseWrite()
				line, err := bufio.NewReader(c).ReadString('\n')
				if got := strings.TrimSpace(line); got != fmt.Sprint(size) {
					errs <- fmt.Errorf("backend got %q bytes (%v), want %d", got, err, size)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return 0, err
		}
		return float64(2*size) / time.Since(start).Seconds() * 8 / 1e6, nil
	}
	for _, dir := range []string{"out", "in"} {
		var free float64
		testenv.Eventually(t, "uncapped transfers across nodes", func() (err error) {
			free, err = transfer(dir)
			return err
		})
		t.Logf("%s: two %d KiB transfers n1 <-> ENI on n2 <-> n3, no cap: %.1f Mbps together", dir, size>>10, free)
		if free < 2*mbps {
			t.Fatalf("%s: the uncapped path moves only %.1f Mbps: a %d Mbps cap cannot be told apart", dir, free, mbps)
		}
	}
	_, err := x.prov.UpdateConnection(bg, x.svc.ServiceID, x.ep.EndpointID, api.UpdateConnectionRequest{Bandwidth: ptr(mbps)})
	must(t, err)
	// The cap reaches n2's listener: the first transfer under 2x the cap.
	testenv.Eventually(t, "the cap applies on n2", func() error {
		capped, err := transfer("out")
		if err == nil && capped >= 2*mbps {
			err = fmt.Errorf("%.1f Mbps", capped)
		}
		return err
	})
	// And holds each way.
	for _, dir := range []string{"out", "in"} {
		capped, err := transfer(dir)
		must(t, err)
		if capped >= 2*mbps {
			t.Fatalf("%s: two transfers through one endpoint capped at %d Mbps moved %.2f Mbps together across nodes", dir, mbps, capped)
		}
		t.Logf("%s: two %d KiB transfers n1 <-> ENI on n2 <-> n3, capped at %d Mbps: %.2f Mbps together", dir, size>>10, mbps, capped)
	}
}

// placeZone writes the placement of an endpoint's ENI of zone on node.
func placeZone(t *testing.T, e *testenv.Env, epID, zone string, node *labNode) {
	t.Helper()
	ns := e.Cache.State().Nodes[node.Name]
	if ns == nil {
		t.Fatalf("node %s is not ready", node.Name)
	}
	p := model.ENIPlacement{Node: node.Name, NodeLease: ns.LeaseID, Since: time.Now().UTC().Format(time.RFC3339)}
	must(t, e.Store.PutRaw(bg, e.Store.ENIPlacementKey(epID, zone), store.MustJSON(p)))
}

// TestNodesZoneAffinity: four nodes, n1 and n3 in zone h, n2 and n4 in
// zone i; backends in h (on n3) and i (on n4); zone affinity on. The client
// host on n1 reaches the h backend through the ENI of zone h (served by n1,
// then by n3) and the i backend through the ENI of zone i (served by n2):
// the zone of the serving node decides. With affinity off the ENI of zone
// h spreads over both backends (so the check can fail).
func TestNodesZoneAffinity(t *testing.T) {
	const zh, zi = "cn-hangzhou-h", "cn-hangzhou-i"
	e, nodes := startLabZones(t, 4, zh, zi)
	n1, n2, n3, n4 := nodes[0], nodes[1], nodes[2], nodes[3]
	if n1.Zone != zh || n2.Zone != zi || n3.Zone != zh || n4.Zone != zi {
		t.Fatalf("lab zones: %s %s %s %s", n1.Zone, n2.Zone, n3.Zone, n4.Zone)
	}
	prov, _ := e.Account(t, "provider")
	cons, consID := e.Account(t, "consumer")
	pv, err := prov.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	must(t, err)
	cv, err := cons.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	must(t, err)
	var backends []api.BackendSpec
	var epZones []api.EndpointZoneRequest
	var clientHost api.Host
	for i, z := range []struct {
		zone    string
		backend *labNode
	}{{zh, n3}, {zi, n4}} {
		pvsw, err := prov.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: pv.VpcID, ZoneID: z.zone, CidrBlock: fmt.Sprintf("10.0.%d.0/24", i+1)})
		must(t, err)
		bh, err := prov.CreateHost(bg, api.CreateHostRequest{VSwitchID: pvsw.VSwitchID, NodeName: z.backend.Name})
		must(t, err)
		z.backend.serveName(t, bh.HostID, 6001, "backend-"+z.zone[len(z.zone)-1:])
		backends = append(backends, api.BackendSpec{ZoneID: z.zone, IP: bh.IP.String()})
		cvsw, err := cons.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: cv.VpcID, ZoneID: z.zone, CidrBlock: fmt.Sprintf("10.0.%d.0/24", i+1)})
		must(t, err)
		epZones = append(epZones, api.EndpointZoneRequest{ZoneID: z.zone, VSwitchID: cvsw.VSwitchID})
		if z.zone == zh {
			clientHost, err = cons.CreateHost(bg, api.CreateHostRequest{VSwitchID: cvsw.VSwitchID, NodeName: n1.Name})
			must(t, err)
		}
	}
	svc, err := prov.CreateService(bg, api.CreateServiceRequest{VpcID: pv.VpcID, Ports: []int{6001}, Resources: backends,
		ZoneAffinityEnabled: true, AutoAcceptEnabled: true, AllowedAccounts: []string{consID}})
	must(t, err)
	sg, err := cons.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: cv.VpcID,
		Rules: []model.SecurityGroupRule{scenario.AcceptTCP(6001, 6001, "10.0.0.0/16")}})
	must(t, err)
	ep, err := cons.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: svc.ServiceID, VpcID: cv.VpcID,
		SecurityGroupIDs: []string{sg.SecurityGroupID}, Zones: epZones})
	must(t, err)
	eni := map[string]netip.Addr{}
	for _, z := range ep.Zones {
		eni[z.ZoneID] = z.IP
	}

	// answers collects the backends that answer n connections through ip.
	answers := func(ip netip.Addr, n int) (map[string]int, error) {
		got := map[string]int{}
		for range n {
			a, err := n1.hello(clientHost.HostID, ip.String()+":6001")
			if err != nil {
				return got, err
			}
			got[a]++
		}
		return got, nil
	}
	for _, step := range []struct {
		zone string
		node *labNode
		want string
	}{
		{zh, n1, "backend-h hi"},
		{zi, n2, "backend-i hi"},
		{zh, n3, "backend-h hi"},
	} {
		placeZone(t, e, ep.EndpointID, step.zone, step.node)
		testenv.Eventually(t, "ENI of "+step.zone+" on "+step.node.Name, func() error {
			for _, n := range nodes {
				if has := n.hasENI(t, eni[step.zone]); has != (n == step.node) {
					return fmt.Errorf("%s holds the ENI: %v", n.Name, has)
				}
			}
			got, err := answers(eni[step.zone], 10)
			if err == nil && (len(got) != 1 || got[step.want] != 10) {
				err = fmt.Errorf("answers %v, want 10 x %q", got, step.want)
			}
			return err
		})
		t.Logf("zone affinity: ENI of %s served by %s (zone %s) -> %s", step.zone, step.node.Name, step.node.Zone, step.want)
	}
	_, err = prov.UpdateService(bg, svc.ServiceID, api.UpdateServiceRequest{ZoneAffinityEnabled: ptr(false)})
	must(t, err)
	testenv.Eventually(t, "affinity off: ENI of h spreads over both zones", func() error {
		got, err := answers(eni[zh], 10)
		if err == nil && (got["backend-h hi"] == 0 || got["backend-i hi"] == 0) {
			err = fmt.Errorf("answers %v, want both backends", got)
		}
		return err
	})
}

// TestNodesENIArrivesReady: when the ENI moves from n2 to a node that
// holds no copy of the provider VPC yet (n1, the client's node, or n4,
// whichever the placement controller did not try first), every
// connection that node accepts reaches the backend on n3: no connection
// is accepted and then reset for want of a route to the backend.
func TestNodesENIArrivesReady(t *testing.T) {
	e, nodes := startLabNodes(t, 4)
	n1, n2, n3, n4 := nodes[0], nodes[1], nodes[2], nodes[3]
	x := crossSetup(t, e, n1, n3, crossOpts{ports: []int{6001}}, func(hostID string) { n3.serveName(t, hostID, 6001, "backend") })
	eni := x.ep.Zones[0].IP
	addr := netip.AddrPortFrom(eni, 6001)
	placeOnly(t, e, x.ep.EndpointID, eni, n2, nodes)
	helloThrough(t, n1, x.client.HostID, eni, "ENI on n2")
	var to *labNode
	for _, n := range []*labNode{n1, n4} {
		if _, err := os.Stat("/run/netns/" + n.NetnsPrefix + "-" + x.svc.VpcID); errors.Is(err, os.ErrNotExist) {
			to = n
			break
		}
	}
	if to == nil {
		t.Fatal("n1 and n4 both hold a copy of the provider VPC: no node to move the ENI to that must build one")
	}
	// holds reports whether n's copy of the consumer VPC has the ENI.
	holds := func(n *labNode) bool {
		h, err := netns.GetFromPath("/run/netns/" + n.NetnsPrefix + "-" + x.consumerVPC)
		if err != nil {
			return false
		}
		defer h.Close()
		nl, err := netlink.NewHandleAt(h)
		if err != nil {
			return false
		}
		defer nl.Close()
		addrs, err := nl.AddrList(nil, unix.AF_INET)
		if err != nil {
			return false
		}
		for _, a := range addrs {
			if a.IP.Equal(eni.AsSlice()) {
				return true
			}
		}
		return false
	}
	place(t, e, x.ep.EndpointID, to)
	var ok, refused int
	var failures []string
	deadline := time.Now().Add(10 * time.Second)
	for ok < 20 && time.Now().Before(deadline) {
		if !holds(to) || holds(n2) {
			time.Sleep(time.Millisecond)
			continue
		}
		c, err := n1.dial(x.client.HostID, addr)
		if err != nil {
			refused++ // before the listener or the client node's entries follow, as on one node
			time.Sleep(time.Millisecond)
			continue
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		_, err = io.WriteString(c, "hi\n")
		var line string
		if err == nil {
			line, err = bufio.NewReader(c).ReadString('\n')
		}
		c.Close()
		if got := strings.TrimSpace(line); got != "backend hi" {
			failures = append(failures, fmt.Sprintf("%q (%v)", got, err))
			continue
		}
		ok++
	}
	t.Logf("ENI moved n2 -> %s: %d connections answered, %d not accepted, %d accepted and lost", to.Name, ok, refused, len(failures))
	if len(failures) > 0 {
		t.Errorf("%d connections accepted by %s after it took the ENI got no answer from the backend: %v", len(failures), to.Name, failures[:min(len(failures), 5)])
	}
	if ok < 20 {
		t.Fatalf("only %d connections through the ENI on %s within 10 s", ok, to.Name)
	}
}
