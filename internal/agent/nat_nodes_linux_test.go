//go:build linux

package agent_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/knat"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/testenv"
)

// natAcross is a nat service across a lab: provider VPC with a backend
// host on one node answering "backend <source it sees>" on 6001, consumer
// VPC (the same CIDR) with a client host on another node, an endpoint of
// zone labZone whose security group allows 10.0.0.0/16 on 6001.
type natAcross struct {
	ep                 model.Endpoint
	cvpc, pvpc, client string
	cons, prov         *client.Client
	svcID, sgID        string
	snat               netip.Addr
}

func buildNATAcross(t *testing.T, e *testenv.Env, clientNode, backend *labNode) natAcross {
	t.Helper()
	prov, _ := e.Account(t, "provider")
	cons, consID := e.Account(t, "consumer")
	pv, err := prov.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	must(t, err)
	pvsw, err := prov.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: pv.VpcID, ZoneID: labZone, CidrBlock: "10.0.1.0/24"})
	must(t, err)
	bh, err := prov.CreateHost(bg, api.CreateHostRequest{VSwitchID: pvsw.VSwitchID, NodeName: backend.Name})
	must(t, err)
	backend.serveSource(t, bh.HostID, 6001)
	svc, err := prov.CreateService(bg, api.CreateServiceRequest{VpcID: pv.VpcID, Ports: []int{6001}, Forwarding: model.ForwardNAT,
		Resources: []api.BackendSpec{{ZoneID: labZone, IP: bh.IP.String()}}, AutoAcceptEnabled: true, AllowedAccounts: []string{consID}})
	must(t, err)
	cv, err := cons.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	must(t, err)
	cvsw, err := cons.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: cv.VpcID, ZoneID: labZone, CidrBlock: "10.0.1.0/24"})
	must(t, err)
	ch, err := cons.CreateHost(bg, api.CreateHostRequest{VSwitchID: cvsw.VSwitchID, NodeName: clientNode.Name})
	must(t, err)
	sg, err := cons.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: cv.VpcID,
		Rules: []model.SecurityGroupRule{scenario.AcceptTCP(6001, 6001, "10.0.0.0/16")}})
	must(t, err)
	ep, err := cons.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: svc.ServiceID, VpcID: cv.VpcID,
		SecurityGroupIDs: []string{sg.SecurityGroupID}, Zones: []api.EndpointZoneRequest{{ZoneID: labZone, VSwitchID: cvsw.VSwitchID}}})
	must(t, err)
	x := natAcross{ep: ep, cvpc: cv.VpcID, pvpc: pv.VpcID, client: ch.HostID, cons: cons, prov: prov, svcID: svc.ServiceID, sgID: sg.SecurityGroupID}
	testenv.Eventually(t, "the endpoint zone's SNAT address", func() error {
		if cur := e.Cache.State().Endpoints[ep.EndpointID]; cur != nil && len(cur.Zones) > 0 && cur.Zones[0].SnatIP.IsValid() {
			x.snat = cur.Zones[0].SnatIP
			return nil
		}
		return fmt.Errorf("no SNAT address yet")
	})
	return x
}

// serveSource answers each line with "backend <the connection's source>".
func (n *labNode) serveSource(t *testing.T, hostID string, port uint16) {
	n.serveLines(t, hostID, netip.AddrPortFrom(netip.IPv4Unspecified(), port), func(c net.Conn, _ string) string {
		return "backend " + c.RemoteAddr().(*net.TCPAddr).IP.String() + "\n"
	})
}

// openLive opens a connection from a host on n to addr that answers
// (liveConn, with the NAT tests' string address).
func (n *labNode) openLive(t *testing.T, hostID, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	l := n.liveConn(t, hostID, netip.MustParseAddrPort(addr))
	return l.c, l.r
}

// hasPair reports whether n's copy of vpcID holds a kernel NAT link.
func (n *labNode) hasPair(t *testing.T, vpcID string) bool {
	t.Helper()
	out, err := exec.Command("ip", "-n", n.NetnsPrefix+"-"+vpcID, "-o", "link").CombinedOutput()
	if err != nil {
		return false // no copy of the VPC on the node
	}
	return strings.Contains(string(out), knat.LinkName(""))
}

// TestNATAcrossNodes: a nat service on a three-node lab, client host on
// n1, ENI placed on n2, backend on n3. Through the ENI the backend is
// reached and sees the endpoint zone's SNAT address (n3's provider copy
// routes it to n2 over the overlay); a security group rule's removal cuts
// a live connection across nodes within 1 s and refuses new ones; moving
// the placement to n1 moves the kernel NAT pair (n2's is closed, its
// established flows are lost; n1's serves new connections with the same
// SNAT address); rejecting the connection cuts within 1 s there.
func TestNATAcrossNodes(t *testing.T) {
	e, nodes := startLabNodes(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	x := buildNATAcross(t, e, n1, n3)
	eni := x.ep.Zones[0].IP
	addr := netip.AddrPortFrom(eni, 6001).String()
	want := "backend " + x.snat.String()
	through := func(what string) {
		t.Helper()
		testenv.Eventually(t, what, func() error {
			got, err := n1.hello(x.client, addr)
			if err == nil && got != want {
				err = fmt.Errorf("answer %q, want %q", got, want)
			}
			return err
		})
	}
	refusedOn := func(what string) {
		t.Helper()
		if got, err := n1.hello(x.client, addr); err == nil {
			t.Errorf("%s: a new connection was forwarded: %q", what, got)
		}
	}

	place(t, e, x.ep.EndpointID, n2)
	through("client on n1 -> ENI on n2 (nat) -> backend on n3 sees the SNAT address")
	if !n2.hasPair(t, x.cvpc) || !n2.hasPair(t, x.pvpc) {
		t.Fatal("n2 serves the ENI without a kernel NAT link between its VPC copies")
	}
	// (The placement controller may have placed the zone elsewhere first:
	// that node's pair goes.)
	testenv.Eventually(t, "no kernel NAT link on n1 and n3", func() error {
		for _, n := range []*labNode{n1, n3} {
			if n.hasPair(t, x.cvpc) || n.hasPair(t, x.pvpc) {
				return fmt.Errorf("%s holds a kernel NAT link without serving the ENI", n.Name)
			}
		}
		return nil
	})

	// Security group: the rule's removal cuts across nodes.
	c, r := n1.openLive(t, x.client, addr)
	start := time.Now()
	_, err := x.cons.RevokeSecurityGroup(bg, x.sgID, api.RulesRequest{Rules: []api.SecurityGroupRule{
		scenario.AcceptTCP(6001, 6001, "10.0.0.0/16")}})
	must(t, err)
	cutWithin(t, "rule deleted (ENI on n2)", c, r, start)
	refusedOn("rule deleted")
	_, err = x.cons.AuthorizeSecurityGroup(bg, x.sgID, api.RulesRequest{Rules: []api.SecurityGroupRule{
		scenario.AcceptTCP(6001, 6001, "10.0.0.0/16")}})
	must(t, err)
	through("rule authorized again")

	// Move: n2 closes its pair, n1 opens one; new connections work.
	old, oldR := n1.openLive(t, x.client, addr)
	moved := time.Now()
	place(t, e, x.ep.EndpointID, n1)
	testenv.Eventually(t, "the pair moved to n1", func() error {
		if n2.hasPair(t, x.cvpc) || n2.hasPair(t, x.pvpc) {
			return fmt.Errorf("n2 still holds a kernel NAT link")
		}
		if !n1.hasPair(t, x.cvpc) || !n1.hasPair(t, x.pvpc) {
			return fmt.Errorf("n1 has no kernel NAT link")
		}
		return nil
	})
	through("client on n1 -> ENI on n1 (nat) -> backend on n3 sees the SNAT address")
	t.Logf("placement on n1 written -> n2's pair closed, n1's serving: %v", time.Since(moved).Round(time.Millisecond))
	// A connection established through n2 is picked up mid-stream by
	// n1's conntrack (loose tracking) and NATed the same way: the same
	// SNAT address and source port, the one backend. With several
	// backends the random pick may land elsewhere, which resets it
	// (docs/forwarding.md, "Across nodes").
	old.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(old, "ping\n"); err != nil {
		t.Fatalf("connection made through n2, after the move: %v", err)
	}
	if got, err := oldR.ReadString('\n'); err != nil || got != want+"\n" {
		t.Fatalf("connection made through n2, after the move: %q, %v; want %q", got, err, want)
	}

	// Revocation on the new node.
	c, r = n1.openLive(t, x.client, addr)
	start = time.Now()
	_, err = x.prov.RejectConnection(bg, x.svcID, x.ep.EndpointID)
	must(t, err)
	cutWithin(t, "connection rejected (ENI on n1)", c, r, start)
	refusedOn("rejected")
}

// TestNATNodeSweepAtStart: a node restarting sweeps the kernel NAT pair a
// previous process left between its VPC copies for an ENI now placed on
// another node (without the node rule the store's nat endpoint kept it for
// ever). Client host and backend on n2, ENI on n1: n2's copies route the
// ENI to n1 and the SNAT address back to n1.
func TestNATNodeSweepAtStart(t *testing.T) {
	e, nodes := startLabNodes(t, 2)
	n1, n2 := nodes[0], nodes[1]
	x := buildNATAcross(t, e, n2, n2)
	addr := netip.AddrPortFrom(x.ep.Zones[0].IP, 6001).String()
	want := "backend " + x.snat.String()
	through := func(what string) {
		t.Helper()
		testenv.Eventually(t, what, func() error {
			got, err := n2.hello(x.client, addr)
			if err == nil && got != want {
				err = fmt.Errorf("answer %q, want %q", got, want)
			}
			return err
		})
	}
	place(t, e, x.ep.EndpointID, n1)
	through("client on n2 -> ENI on n1 (nat) -> backend on n2")
	testenv.Eventually(t, "n1 alone holds the pair", func() error {
		if n2.hasPair(t, x.cvpc) || !n1.hasPair(t, x.cvpc) {
			return fmt.Errorf("n1: %v, n2: %v", n1.hasPair(t, x.cvpc), n2.hasPair(t, x.cvpc))
		}
		return nil
	})
	n2.stop()
	left, err := knat.Open(knat.Config{ID: agent.PairID(x.cvpc, x.pvpc), ConsumerNS: "/run/netns/" + n2.NetnsPrefix + "-" + x.cvpc,
		ProviderNS: "/run/netns/" + n2.NetnsPrefix + "-" + x.pvpc, Link: netip.MustParsePrefix("100.127.127.248/30"), SNAT: model.SNATPool})
	must(t, err)
	_ = left // abandoned, as by a crashed process
	if !n2.hasPair(t, x.cvpc) || !n2.hasPair(t, x.pvpc) {
		t.Fatal("the leftover pair was not made")
	}
	n2.start(t)
	testenv.Eventually(t, "the leftover swept from n2", func() error {
		if n2.hasPair(t, x.cvpc) || n2.hasPair(t, x.pvpc) {
			return fmt.Errorf("n2 still holds a kernel NAT link")
		}
		return nil
	})
	through("after n2's restart")
}

// snatRoute is the main-table route of n's provider copy for a /32.
func (n *labNode) snatRoute(t *testing.T, vpcID string, a netip.Addr) string {
	t.Helper()
	out, _ := exec.Command("ip", "-n", n.NetnsPrefix+"-"+vpcID, "-o", "route", "show", a.String()+"/32").CombinedOutput()
	return strings.TrimSpace(string(out))
}

// TestNATAcrossNodesSharedPair: two endpoints of the same consumer VPC
// and service share n2's pair; moving one to n1 and back keeps the other
// serving through n2 all along, and n2's provider copy routes the moved
// zone's SNAT address over the overlay while it is away and over the
// pair's link again when it is back (the /32 of a source that left a pair
// that stays is removed, so it is made again on its return).
func TestNATAcrossNodesSharedPair(t *testing.T) {
	e, nodes := startLabNodes(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	x := buildNATAcross(t, e, n1, n3)
	b, err := x.cons.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: x.svcID, VpcID: x.cvpc,
		SecurityGroupIDs: []string{x.sgID}, Zones: []api.EndpointZoneRequest{{ZoneID: labZone, VSwitchID: x.ep.Zones[0].VSwitchID}}})
	must(t, err)
	var bSNAT netip.Addr
	testenv.Eventually(t, "the second endpoint's SNAT address", func() error {
		if cur := e.Cache.State().Endpoints[b.EndpointID]; cur != nil && len(cur.Zones) > 0 && cur.Zones[0].SnatIP.IsValid() {
			bSNAT = cur.Zones[0].SnatIP
			return nil
		}
		return fmt.Errorf("no SNAT address yet")
	})
	through := func(eni, snat netip.Addr, what string) {
		t.Helper()
		testenv.Eventually(t, what, func() error {
			got, err := n1.hello(x.client, netip.AddrPortFrom(eni, 6001).String())
			if want := "backend " + snat.String(); err == nil && got != want {
				err = fmt.Errorf("answer %q, want %q", got, want)
			}
			return err
		})
	}
	routeVia := func(dev string) func() error {
		return func() error {
			if r := n2.snatRoute(t, x.pvpc, x.snat); !strings.Contains(r, "dev "+dev) {
				return fmt.Errorf("n2's provider copy routes %v: %q, want dev %s", x.snat, r, dev)
			}
			return nil
		}
	}
	place(t, e, x.ep.EndpointID, n2)
	place(t, e, b.EndpointID, n2)
	through(x.ep.Zones[0].IP, x.snat, "endpoint A through n2")
	through(b.Zones[0].IP, bSNAT, "endpoint B through n2")
	testenv.Eventually(t, "A's source over n2's pair", routeVia(knat.LinkName("")))

	place(t, e, x.ep.EndpointID, n1)
	testenv.Eventually(t, "n1 opened its pair", func() error {
		if !n1.hasPair(t, x.cvpc) {
			return fmt.Errorf("n1 has no kernel NAT link")
		}
		return nil
	})
	through(x.ep.Zones[0].IP, x.snat, "endpoint A through n1")
	testenv.Eventually(t, "A's source over the overlay on n2", routeVia("vx"))
	through(b.Zones[0].IP, bSNAT, "endpoint B still through n2")

	place(t, e, x.ep.EndpointID, n2)
	testenv.Eventually(t, "n1 closed its pair", func() error {
		if n1.hasPair(t, x.cvpc) {
			return fmt.Errorf("n1 still holds a kernel NAT link")
		}
		return nil
	})
	testenv.Eventually(t, "A's source over n2's pair again", routeVia(knat.LinkName("")))
	through(x.ep.Zones[0].IP, x.snat, "endpoint A back through n2")
	through(b.Zones[0].IP, bSNAT, "endpoint B through n2")
}
