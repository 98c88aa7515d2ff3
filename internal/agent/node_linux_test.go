//go:build linux

package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/lab"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

const labZone = "cn-hangzhou-h"

// labNode is a simulated machine of internal/lab with a node agent run
// in this process: its own netns driver (prefix of the node), its VXLAN
// sockets in the node namespace, its underlay address on the lab bridge.
type labNode struct {
	*lab.Node
	drv    netdrv.Driver
	a      *agent.Agent
	cancel context.CancelFunc
	e      *testenv.Env
	log    *slog.Logger
}

// start runs the node's agent with a new driver (as a new process would).
func (n *labNode) start(t *testing.T) {
	t.Helper()
	drv, err := netdrv.New("netns", n.NetnsPrefix, n.log)
	if err != nil {
		t.Fatal(err)
	}
	n.drv = drv
	n.a = agent.New(agent.Config{Zone: n.Zone, Store: n.e.Store, Cache: n.e.Cache, Driver: drv, Metrics: proxy.NewMetrics(nil),
		Logger: n.log, Node: &agent.NodeConfig{Name: n.Name, UnderlayAddr: n.Underlay, Namespace: "/run/netns/" + n.Namespace}})
	ctx, cancel := context.WithCancel(bg)
	n.cancel = cancel
	go func() { _ = n.a.Run(ctx) }()
}

// stop ends the node's agent (its lease is revoked, the kernel state stays).
func (n *labNode) stop() {
	n.cancel()
	<-n.a.Done()
}

// startLabNodes starts an API server with no agent of its own (embedded
// etcd on loopback), a lab of n nodes of one zone, and a node agent for
// each; it returns when every node is ready (node/<name> written).
func startLabNodes(t *testing.T, n int) (*testenv.Env, []*labNode) {
	t.Helper()
	return startLabZones(t, n, labZone)
}

// startLabZones is startLabNodes with node i in zones[(i-1) % len(zones)].
func startLabZones(t *testing.T, n int, zones ...string) (*testenv.Env, []*labNode) {
	t.Helper()
	e := testenv.Start(t, testenv.Options{AgentZones: []string{}})
	l := lab.New(t, lab.Config{Nodes: n, Zones: zones})
	logs := &failLog{}
	logs.dumpOnFailure(t)
	log := slog.New(slog.NewTextHandler(logs, nil))
	if os.Getenv("PRIVLINK_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var nodes []*labNode
	t.Cleanup(func() {
		for _, ln := range nodes {
			ln.stop()
		}
		for _, ln := range nodes {
			if err := ln.drv.Topology.Cleanup(); err != nil {
				t.Errorf("cleanup %s: %v", ln.Name, err)
			}
		}
	})
	for _, node := range l.Nodes {
		ln := &labNode{Node: node, e: e, log: log.With("node", node.Name)}
		ln.start(t)
		nodes = append(nodes, ln)
	}
	for _, ln := range nodes {
		testenv.Eventually(t, ln.Name+" ready", func() error {
			if st := e.Cache.State(); st.Nodes[ln.Name] == nil {
				return fmt.Errorf("no node/%s", ln.Name)
			}
			return nil
		})
	}
	return e, nodes
}

// serveName answers each line with "<name> <line>" from inside a host.
func (n *labNode) serveName(t *testing.T, hostID string, port uint16, name string) {
	n.serveLines(t, hostID, netip.AddrPortFrom(netip.IPv4Unspecified(), port), func(_ net.Conn, line string) string { return name + " " + line })
}

// serveLines answers each line a connection to addr in a host sends with
// reply(conn, line), until the test ends.
func (n *labNode) serveLines(t *testing.T, hostID string, addr netip.AddrPort, reply func(c net.Conn, line string) string) {
	t.Helper()
	var ln net.Listener
	testenv.Eventually(t, "listen in "+hostID, func() (err error) {
		ln, err = n.drv.Sockets.ListenHost(hostID, addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, reply(c, line)); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// hello sends one line from a host on n to addr and returns the answer.
func (n *labNode) hello(hostID, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	c, err := n.drv.Sockets.DialHost(ctx, hostID, netip.MustParseAddrPort(addr))
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "hi\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// hasENI reports whether the node holds ip on a bridge.
func (n *labNode) hasENI(t *testing.T, ip netip.Addr) bool {
	t.Helper()
	inv, err := n.drv.Topology.Inventory()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inv.ENIs {
		if e.IP == ip {
			return true
		}
	}
	return false
}

// neighMAC is the permanent neighbour entry for ip on the VXLAN device of
// n's copy of vpcID ("" when there is none).
func (n *labNode) neighMAC(t *testing.T, vpcID string, ip netip.Addr) string {
	t.Helper()
	h, err := netns.GetFromPath("/run/netns/" + n.NetnsPrefix + "-" + vpcID)
	if err != nil {
		return ""
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	link, err := nl.LinkByName(netdrv.VXLANName(vpcID))
	if err != nil {
		return ""
	}
	neighs, err := nl.NeighList(link.Attrs().Index, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, ne := range neighs {
		if ne.IP.Equal(ip.AsSlice()) && ne.State&netlink.NUD_PERMANENT != 0 {
			return ne.HardwareAddr.String()
		}
	}
	return ""
}

func vtep(n *labNode) string { return netdrv.VTEPMAC(n.Underlay).String() }

// place writes an ENI placement by hand (the placement controller's job,
// slice S5): the endpoint zone's ENI on node under its current lease.
func place(t *testing.T, e *testenv.Env, epID string, node *labNode) {
	t.Helper()
	ns := e.Cache.State().Nodes[node.Name]
	if ns == nil {
		t.Fatalf("node %s is not ready", node.Name)
	}
	p := model.ENIPlacement{Node: node.Name, NodeLease: ns.LeaseID, Since: time.Now().UTC().Format(time.RFC3339)}
	if err := e.Store.PutRaw(bg, e.Store.ENIPlacementKey(epID, labZone), store.MustJSON(p)); err != nil {
		t.Fatal(err)
	}
}

// TestNodesHostsAcrossNodes: two nodes, a host of one VPC on each, TCP
// between them through the overlay the node agents built; a VPC with the
// same CIDR on the same nodes stays apart.
func TestNodesHostsAcrossNodes(t *testing.T) {
	e, nodes := startLabNodes(t, 2)
	n1, n2 := nodes[0], nodes[1]
	c, _ := e.Account(t, "tenant")
	var hosts [2][2]model.Host // [vpc][node]
	for v := range 2 {
		vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "192.168.0.0/16"})
		must(t, err)
		vsw, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: labZone, CidrBlock: "192.168.0.0/24"})
		must(t, err)
		for i, n := range nodes {
			h, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID, NodeName: n.Name, IP: fmt.Sprintf("192.168.0.%d", 11+i+10*v)})
			must(t, err)
			if h.NodeName != n.Name {
				t.Fatalf("host placed on %q, want %s", h.NodeName, n.Name)
			}
			hosts[v][i] = h
		}
	}
	for v := range 2 {
		n2.serveName(t, hosts[v][1].HostID, 7001, fmt.Sprintf("vpc%d-n2", v))
		n1.serveName(t, hosts[v][0].HostID, 7001, fmt.Sprintf("vpc%d-n1", v))
	}
	for v := range 2 {
		testenv.Eventually(t, fmt.Sprintf("vpc%d: n1 -> n2", v), func() error {
			got, err := n1.hello(hosts[v][0].HostID, hosts[v][1].IP.String()+":7001")
			if err == nil && got != fmt.Sprintf("vpc%d-n2 hi", v) {
				err = fmt.Errorf("answer %q", got)
			}
			return err
		})
		got, err := n2.hello(hosts[v][1].HostID, hosts[v][0].IP.String()+":7001")
		if want := fmt.Sprintf("vpc%d-n1 hi", v); err != nil || got != want {
			t.Errorf("vpc%d: n2 -> n1: %q, %v; want %q", v, got, err, want)
		}
	}
	// 64 KiB echoed across nodes: full-size frames fit the VPC MTU
	// (underlay 1550 - 50 bytes of VXLAN = 1500 inside).
	var ln net.Listener
	testenv.Eventually(t, "echo listener", func() (err error) {
		ln, err = n2.drv.Sockets.ListenHost(hosts[0][1].HostID, netip.MustParseAddrPort("0.0.0.0:7002"))
		return err
	})
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(c, c)
		}
	}()
	conn, err := n1.drv.Sockets.DialHost(bg, hosts[0][0].HostID, netip.AddrPortFrom(hosts[0][1].IP, 7002))
	must(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	payload := make([]byte, 64<<10)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	go conn.Write(payload)
	back := make([]byte, len(payload))
	if _, err := io.ReadFull(conn, back); err != nil || !bytes.Equal(back, payload) {
		t.Fatalf("64 KiB across nodes: %v (intact: %v)", err, bytes.Equal(back, payload))
	}
	// VPC 0's host on n1 reaching VPC 1's address on n2 (.22): isolation.
	if got, err := n1.hello(hosts[0][0].HostID, hosts[1][1].IP.String()+":7001"); err == nil {
		t.Errorf("VPC 0 reached VPC 1's host on n2: %q", got)
	}
}

// endpointAcross builds a provider VPC with a backend host on backend
// (answering "backend <line>" on 6001) and a consumer VPC with a client
// host on clientNode and an endpoint of zone labZone; no placement yet.
func endpointAcross(t *testing.T, e *testenv.Env, clientNode, backend *labNode) (ep model.Endpoint, consumerVPC, clientHost string) {
	t.Helper()
	prov, _ := e.Account(t, "provider")
	cons, consID := e.Account(t, "consumer")
	pv, err := prov.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	must(t, err)
	pvsw, err := prov.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: pv.VpcID, ZoneID: labZone, CidrBlock: "10.0.1.0/24"})
	must(t, err)
	bh, err := prov.CreateHost(bg, api.CreateHostRequest{VSwitchID: pvsw.VSwitchID, NodeName: backend.Name})
	must(t, err)
	backend.serveName(t, bh.HostID, 6001, "backend")
	svc, err := prov.CreateService(bg, api.CreateServiceRequest{VpcID: pv.VpcID, Ports: []int{6001},
		Resources: []api.BackendSpec{{ZoneID: labZone, IP: bh.IP.String()}}, AutoAcceptEnabled: true, AllowedAccounts: []string{consID}})
	must(t, err)
	cv, err := cons.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"}) // the provider's CIDR too
	must(t, err)
	cvsw, err := cons.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: cv.VpcID, ZoneID: labZone, CidrBlock: "10.0.1.0/24"})
	must(t, err)
	ch, err := cons.CreateHost(bg, api.CreateHostRequest{VSwitchID: cvsw.VSwitchID, NodeName: clientNode.Name})
	must(t, err)
	sg, err := cons.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: cv.VpcID,
		Rules: []model.SecurityGroupRule{{PortRange: "6001/6001", SourceCidr: "10.0.0.0/16"}}})
	must(t, err)
	ep, err = cons.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: svc.ServiceID, VpcID: cv.VpcID,
		SecurityGroupIDs: []string{sg.SecurityGroupID}, Zones: []api.EndpointZoneRequest{{ZoneID: labZone, VSwitchID: cvsw.VSwitchID}}})
	must(t, err)
	return ep, cv.VpcID, ch.HostID
}

// endpointOnSecondNode starts two lab nodes, builds endpointAcross with
// the client host and the backend on n1, and places the ENI on n2 only;
// it returns once the client reaches the backend through it.
func endpointOnSecondNode(t *testing.T) (e *testenv.Env, nodes []*labNode, ep model.Endpoint, consumerVPC, clientHost string) {
	t.Helper()
	e, nodes = startLabNodes(t, 2)
	n1, n2 := nodes[0], nodes[1]
	ep, consumerVPC, clientHost = endpointAcross(t, e, n1, n1)
	placeOnly(t, e, ep.EndpointID, ep.Zones[0].IP, n2, nodes)
	helloThrough(t, n1, clientHost, ep.Zones[0].IP, "ENI on n2")
	return e, nodes, ep, consumerVPC, clientHost
}

// helloThrough waits until the client host reaches the backend through
// the ENI.
func helloThrough(t *testing.T, client *labNode, hostID string, eni netip.Addr, what string) {
	t.Helper()
	testenv.Eventually(t, what, func() error {
		got, err := client.hello(hostID, netip.AddrPortFrom(eni, 6001).String())
		if err == nil && got != "backend hi" {
			err = fmt.Errorf("answer %q", got)
		}
		return err
	})
}

// TestNodesENIPlacement: an endpoint across three nodes (client host on
// n1, ENI on n2, backend on n3) carries TCP; writing the placement by hand
// moves the ENI (exactly one node holds its address, the others' VXLAN
// neighbour entries follow) and traffic follows; the serving node's report
// carries its name and the placement epoch.
func TestNodesENIPlacement(t *testing.T) {
	e, nodes := startLabNodes(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ep, cvpc, client := endpointAcross(t, e, n1, n3)
	eni := ep.Zones[0].IP
	for _, step := range []struct {
		to     *labNode
		others []*labNode // nodes holding the consumer VPC that route the ENI to the owner
	}{
		{n2, []*labNode{n1}},
		{n3, []*labNode{n1}},
		{n1, nil},
	} {
		start := time.Now()
		place(t, e, ep.EndpointID, step.to)
		helloThrough(t, n1, client, eni, "client on n1 -> ENI on "+step.to.Name+" -> backend on n3")
		t.Logf("placement on %s written -> first answer through the ENI: %v", step.to.Name, time.Since(start).Round(time.Millisecond))
		testenv.Eventually(t, "ENI only on "+step.to.Name, func() error {
			for _, n := range nodes {
				if has := n.hasENI(t, eni); has != (n == step.to) {
					return fmt.Errorf("%s holds the ENI: %v", n.Name, has)
				}
			}
			for _, n := range step.others {
				if mac := n.neighMAC(t, cvpc, eni); mac != vtep(step.to) {
					return fmt.Errorf("%s resolves the ENI to %q, want %s's VTEP %s", n.Name, mac, step.to.Name, vtep(step.to))
				}
			}
			if mac := step.to.neighMAC(t, cvpc, eni); mac != "" {
				return fmt.Errorf("the owner %s has a remote entry for its own ENI: %s", step.to.Name, mac)
			}
			// The client host resolves the ENI to its own node's anycast
			// gateway MAC wherever the ENI lives: a move changes nothing in it.
			gw := netdrv.GatewayMAC(e.Cache.State().VPCs[cvpc].VNI).String()
			if mac := hostNeighMAC(t, n1.NetnsPrefix+"-"+client, eni); mac != gw {
				return fmt.Errorf("the client host resolves the ENI to %q, want the gateway MAC %s", mac, gw)
			}
			return nil
		})
		testenv.Eventually(t, "report of "+step.to.Name, func() error {
			_, rev, err := store.Get[model.ENIPlacement](bg, e.Store, e.Store.ENIPlacementKey(ep.EndpointID, labZone))
			if err != nil {
				return err
			}
			rep := e.Cache.State().Report(labZone, ep.EndpointID)
			if rep == nil || rep.Node != step.to.Name || rep.Epoch != rev || !rep.Ready {
				return fmt.Errorf("report %+v, want node %s epoch %d ready", rep, step.to.Name, rev)
			}
			return nil
		})
	}
}

// TestNodeLeaseLostStepsDown: a node whose lease is revoked (as when the
// control plane expired it) removes the ENIs placed under the old lease
// before its liveness record reappears under the new one, and serves them
// again only once the placement names the new lease.
func TestNodeLeaseLostStepsDown(t *testing.T) {
	e, nodes, ep, cvpc, client := endpointOnSecondNode(t)
	n1, n2, eni := nodes[0], nodes[1], ep.Zones[0].IP
	// A netlink handle in n2's copy of the consumer VPC: the check at the
	// moment n2 is ready again must be quicker than an agent round.
	h, err := netns.GetFromPath("/run/netns/" + n2.NetnsPrefix + "-" + cvpc)
	must(t, err)
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	must(t, err)
	defer nl.Close()
	holds := func() bool {
		addrs, err := nl.AddrList(nil, unix.AF_INET)
		must(t, err)
		for _, a := range addrs {
			if a.IP.Equal(eni.AsSlice()) {
				return true
			}
		}
		return false
	}
	// The hello may have been answered through the zone's first placement
	// (the controller's, before ours reached n2): wait for n2 to hold it.
	testenv.Eventually(t, "n2 holds the ENI it serves", func() error {
		if !holds() {
			return errors.New("n2 does not hold the ENI")
		}
		return nil
	})
	old := e.Cache.State().Nodes[n2.Name].LeaseID
	revoked := time.Now()
	must(t, e.Store.RevokeLease(bg, old))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if ns := e.Cache.State().Nodes[n2.Name]; ns != nil && ns.LeaseID != old {
			if holds() {
				t.Fatal("n2 is ready again under a new lease while still holding the ENI placed under the old one")
			}
			t.Logf("lease revoked -> n2 stepped down and Ready again: %v", time.Since(revoked).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("n2 did not come back under a new lease")
		}
		time.Sleep(100 * time.Microsecond)
	}
	// The placement controller now places the zone again: on n1, or on n2
	// under its new lease. Whichever it chose, only that node holds the
	// ENI, and the ENI serves again through it.
	var owner *labNode
	testenv.Eventually(t, "the zone placed again under a live lease", func() error {
		st := e.Cache.State()
		p := st.Placement(ep.EndpointID, labZone)
		if p == nil {
			return errors.New("no placement")
		}
		if ns := st.Nodes[p.Node]; ns == nil || ns.LeaseID != p.NodeLease || p.NodeLease == old {
			return fmt.Errorf("placement %+v is not under a live lease", p)
		}
		for _, n := range nodes {
			if n.Name == p.Node {
				owner = n
			}
		}
		return nil
	})
	helloThrough(t, n1, client, eni, "ENI back on "+owner.Name)
	for _, n := range nodes {
		if n != owner && n.hasENI(t, eni) {
			t.Errorf("%s holds the ENI placed on %s", n.Name, owner.Name)
		}
	}
}

// TestNodeRestartStepsDown: a node agent restarted (a new process, a new
// lease) finds the ENI address its previous run left on the bridge and
// removes it before it is ready, and serves it again once the placement
// names the new lease.
func TestNodeRestartStepsDown(t *testing.T) {
	e, nodes, ep, _, client := endpointOnSecondNode(t)
	n1, n2, eni := nodes[0], nodes[1], ep.Zones[0].IP
	old := e.Cache.State().Nodes[n2.Name].LeaseID
	n2.stop()
	if !n2.hasENI(t, eni) {
		t.Fatal("the stopped agent removed the ENI: the kernel state should outlive the process")
	}
	n2.start(t)
	testenv.Eventually(t, "n2 ready under a new lease", func() error {
		if ns := e.Cache.State().Nodes[n2.Name]; ns == nil || ns.LeaseID == old {
			return fmt.Errorf("node/%s: %+v", n2.Name, ns)
		}
		return nil
	})
	if n2.hasENI(t, eni) {
		t.Fatal("the restarted node keeps the ENI placed under its previous lease")
	}
	place(t, e, ep.EndpointID, n2)
	helloThrough(t, n1, client, eni, "ENI back on n2")
}

// hostNeighMAC is the MAC a host namespace's neighbour table holds for ip
// ("" when none or not resolved).
func hostNeighMAC(t *testing.T, ns string, ip netip.Addr) string {
	t.Helper()
	h, err := netns.GetFromPath("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	neighs, err := nl.NeighList(0, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, ne := range neighs {
		if ne.IP.Equal(ip.AsSlice()) && ne.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE|netlink.NUD_PERMANENT) != 0 {
			return ne.HardwareAddr.String()
		}
	}
	return ""
}
