//go:build linux

package agent_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/testenv"
)

// dualAcross is a dualstack service (6001/tcp, 7/udp) of a provider VPC
// with a backend host on one node, and an endpoint in a dual-stack
// consumer VPC with a client host (IPv4 and IPv6) on another.
type dualAcross struct {
	ep     model.Endpoint
	vpc    string // the consumer VPC
	client model.Host
	eni4   netip.Addr
	eni6   netip.Addr
}

// endpointAcrossDual builds dualAcross; no placement yet.
func endpointAcrossDual(t *testing.T, e *testenv.Env, clientNode, backend *labNode) dualAcross {
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
	backend.serveUDPEcho(t, bh.HostID, 7, "backend")
	svc, err := prov.CreateService(bg, api.CreateServiceRequest{VpcID: pv.VpcID, Ports: []int{6001}, UDPPorts: []int{7},
		AddressIPVersion: "dualstack", Resources: []api.BackendSpec{{ZoneID: labZone, IP: bh.IP.String()}},
		AutoAcceptEnabled: true, AllowedAccounts: []string{consID}})
	must(t, err)
	cv, err := cons.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", Ipv6CidrBlock: "fd12:3456:789a::/56"})
	must(t, err)
	zero := 0
	cvsw, err := cons.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: cv.VpcID, ZoneID: labZone, CidrBlock: "10.0.1.0/24", Ipv6CidrBlock: &zero})
	must(t, err)
	ch, err := cons.CreateHost(bg, api.CreateHostRequest{VSwitchID: cvsw.VSwitchID, NodeName: clientNode.Name})
	must(t, err)
	if !ch.Ipv6Address.IsValid() {
		t.Fatalf("the client host got no IPv6 address: %+v", ch)
	}
	var rules []model.SecurityGroupRule
	for _, src := range []string{"10.0.0.0/16", "fd12:3456:789a::/56"} {
		rules = append(rules, model.SecurityGroupRule{PortRange: "6001/6001", SourceCidr: src},
			model.SecurityGroupRule{Protocol: "udp", PortRange: "7/7", SourceCidr: src})
	}
	sg, err := cons.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: cv.VpcID, Rules: rules})
	must(t, err)
	ep, err := cons.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: svc.ServiceID, VpcID: cv.VpcID,
		SecurityGroupIDs: []string{sg.SecurityGroupID}, Zones: []api.EndpointZoneRequest{{ZoneID: labZone, VSwitchID: cvsw.VSwitchID}}})
	must(t, err)
	if !ep.Zones[0].Ipv6Address.IsValid() {
		t.Fatalf("the endpoint zone got no IPv6 ENI: %+v", ep.Zones[0])
	}
	return dualAcross{ep: ep, vpc: cv.VpcID, client: ch, eni4: ep.Zones[0].IP, eni6: ep.Zones[0].Ipv6Address}
}

// serveUDPEcho answers each datagram on port of a host (IPv4 and IPv6
// sockets) with "<name>|<payload>".
func (n *labNode) serveUDPEcho(t *testing.T, hostID string, port uint16, name string) {
	t.Helper()
	for _, a := range []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()} {
		var pc net.PacketConn
		testenv.Eventually(t, "udp listen in "+hostID, func() (err error) {
			pc, err = n.drv.Sockets.ListenPacketHost(hostID, netip.AddrPortFrom(a, port))
			return err
		})
		done := make(chan struct{})
		t.Cleanup(func() { pc.Close(); <-done })
		go func() {
			defer close(done)
			buf := make([]byte, 65535)
			for {
				k, from, err := pc.ReadFrom(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				_, _ = pc.WriteTo(append([]byte(name+"|"), buf[:k]...), from)
			}
		}()
	}
}

// udpIn is an unconnected UDP socket of a host on n, of to's family.
func (n *labNode) udpIn(t *testing.T, hostID string, to netip.Addr) *net.UDPConn {
	t.Helper()
	local := netip.IPv4Unspecified()
	if to.Is6() {
		local = netip.IPv6Unspecified()
	}
	pc, err := n.drv.Sockets.ListenPacketHost(hostID, netip.AddrPortFrom(local, 0))
	must(t, err)
	t.Cleanup(func() { pc.Close() })
	return pc.(*net.UDPConn)
}

// udpLoad sends total 64-byte numbered datagrams to `to` on c, at most
// window outstanding, and returns how many did not come back (a reply
// missing for 1 s ends its window) and how many came back out of order.
func udpLoad(t *testing.T, c *net.UDPConn, to netip.AddrPort, total, window int) (lost, reordered int) {
	t.Helper()
	seen := make([]bool, total)
	got, last, sent := 0, -1, 0
	buf := make([]byte, 256)
	for sent < total {
		start := sent
		for sent < total && sent-start < window {
			p := make([]byte, 64)
			binary.BigEndian.PutUint32(p, uint32(sent))
			_, err := c.WriteToUDPAddrPort(p, to)
			must(t, err)
			sent++
		}
		for want := sent - start; want > 0; want-- {
			c.SetReadDeadline(time.Now().Add(time.Second))
			k, err := c.Read(buf)
			if err != nil {
				break
			}
			tag, payload, ok := bytes.Cut(buf[:k], []byte("|"))
			if !ok || string(tag) != "backend" || len(payload) != 64 {
				t.Fatalf("reply %q", buf[:k])
			}
			seq := int(binary.BigEndian.Uint32(payload))
			if seq >= total || seen[seq] {
				t.Fatalf("duplicate or bogus sequence %d", seq)
			}
			seen[seq] = true
			if seq < last {
				reordered++
			}
			last = max(last, seq)
			got++
		}
	}
	return total - got, reordered
}

// udpThrough waits until a new UDP flow from the client host reaches the
// backend through eni:7, then runs a bounded echo load on that flow and
// fails on any loss (the path is in-kernel on one machine).
func udpThrough(t *testing.T, client *labNode, hostID string, eni netip.Addr, what string) {
	t.Helper()
	c := client.udpIn(t, hostID, eni)
	to := netip.AddrPortFrom(eni, 7)
	testenv.Eventually(t, what, func() error {
		got, err := udpAsk(c, to, "hi")
		if err == nil && got != "backend" {
			err = fmt.Errorf("answer %q", got)
		}
		return err
	})
	// Late answers to the retried "hi" would be read as load replies.
	for {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 256)); err != nil {
			break
		}
	}
	const total, window = 300, 16
	lost, reordered := udpLoad(t, c, to, total, window)
	t.Logf("%s: %d datagrams of 64 B, window %d: %d lost, %d reordered", what, total, window, lost, reordered)
	if lost > 0 {
		t.Errorf("%s: %d of %d datagrams lost", what, lost, total)
	}
}

// bridgeAddrs are the addresses on the bridges of n's copy of vpcID.
func (n *labNode) bridgeAddrs(t *testing.T, vpcID string) map[netip.Addr]bool {
	t.Helper()
	h, err := netns.GetFromPath("/run/netns/" + n.NetnsPrefix + "-" + vpcID)
	if err != nil {
		return nil // no copy: no address
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil // a copy being made: the name exists, the namespace is not mounted on it yet
	}
	defer nl.Close()
	links, err := nl.LinkList()
	must(t, err)
	out := map[netip.Addr]bool{}
	for _, l := range links {
		if l.Type() != "bridge" {
			continue
		}
		addrs, err := nl.AddrList(l, unix.AF_UNSPEC)
		must(t, err)
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				out[ip.Unmap()] = true
			}
		}
	}
	return out
}

// TestNodesDualStackUDPAcross: client host on n1, ENIs (IPv4 and IPv6)
// on n2, backend on n3, a dualstack service with a TCP and a UDP port.
// TCP over the IPv6 ENI reaches the backend and the UDP port echoes a
// bounded load over IPv4 and IPv6 with no loss; moving the placement to
// n3 and then to n1 (the client's own node) moves both ENIs (only the
// owner's bridge holds either address), new TCP connections and new UDP
// flows of both families work through the new node; a stale neighbour
// entry of the client host for the IPv6 ENI is corrected by the new
// owner's unsolicited neighbour advertisement without any traffic.
func TestNodesDualStackUDPAcross(t *testing.T) {
	e, nodes := startLabNodes(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	d := endpointAcrossDual(t, e, n1, n3)
	client := d.client.HostID
	hostNS := n1.NetnsPrefix + "-" + client
	bogus := net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x06}
	for _, step := range []struct {
		to    *labNode
		stale bool // plant a stale entry for the IPv6 ENI before the move
	}{{n2, false}, {n3, false}, {n1, true}} {
		t.Run("on "+step.to.Name, func(t *testing.T) {
			if step.stale {
				plantNeigh6(t, hostNS, d.eni6, bogus)
			}
			start := time.Now()
			place(t, e, d.ep.EndpointID, step.to)
			testenv.Eventually(t, "both ENIs only on "+step.to.Name, func() error {
				for _, n := range nodes {
					addrs := n.bridgeAddrs(t, d.vpc)
					for _, a := range []netip.Addr{d.eni4, d.eni6} {
						if addrs[a] != (n == step.to) {
							return fmt.Errorf("%s's copy of the consumer VPC holds %s on a bridge: %v", n.Name, a, addrs[a])
						}
					}
				}
				return nil
			})
			if step.stale {
				// No traffic to the ENI yet: only an announcement corrects
				// the host's entry (NUD would wait for a packet).
				gw := netdrv.GatewayMAC(e.Cache.State().VPCs[d.vpc].VNI).String()
				testenv.Eventually(t, "the host's entry for the IPv6 ENI follows the move", func() error {
					if mac := hostNeigh6(t, hostNS, d.eni6); mac != gw {
						return fmt.Errorf("the client host resolves %s to %q, want the gateway MAC %s", d.eni6, mac, gw)
					}
					return nil
				})
			}
			helloThrough(t, n1, client, d.eni6, "TCP over the IPv6 ENI on "+step.to.Name)
			t.Logf("placement on %s written -> first TCP answer over the IPv6 ENI: %v", step.to.Name, time.Since(start).Round(time.Millisecond))
			helloThrough(t, n1, client, d.eni4, "TCP over the IPv4 ENI on "+step.to.Name)
			udpThrough(t, n1, client, d.eni4, "UDP over the IPv4 ENI on "+step.to.Name)
			udpThrough(t, n1, client, d.eni6, "UDP over the IPv6 ENI on "+step.to.Name)
		})
	}
}

// plantNeigh6 sets a STALE neighbour entry ip -> mac on every non-loopback
// link of the namespace ns (a host has one).
func plantNeigh6(t *testing.T, ns string, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	h, err := netns.GetFromPath("/run/netns/" + ns)
	must(t, err)
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	must(t, err)
	defer nl.Close()
	links, err := nl.LinkList()
	must(t, err)
	for _, l := range links {
		if l.Attrs().Flags&net.FlagLoopback != 0 {
			continue
		}
		must(t, nl.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V6, State: netlink.NUD_STALE,
			IP: net.IP(ip.AsSlice()), HardwareAddr: mac}))
	}
	if got := hostNeigh6(t, ns, ip); got != mac.String() {
		t.Fatalf("planted %s -> %s, the table says %q", ip, mac, got)
	}
}
