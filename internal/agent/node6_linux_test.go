//go:build linux

package agent_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/testenv"
)

// TestNodesIPv6AcrossNodes: two dual-stack VPCs with the same user-given
// /56 (and the same host address ::11 on n1) and an IPv4-only VPC, each
// with a host on each of two nodes. Hosts of one dual-stack VPC talk TCP
// over IPv6 across nodes both ways (a line each way, 64 KiB echoed), a
// 1452-byte ICMPv6 echo with DF crosses (1500 bytes inside, the VPC MTU)
// while a 1453-byte one is refused at the sender, the hosts resolve remote
// addresses to their node's anycast gateway MAC (proxy NDP), the router
// reaches a remote host from its IPv6 overlay address, each VPC reaches
// only its own addresses, and the IPv4-only VPC's copy gets no IPv6 state.
func TestNodesIPv6AcrossNodes(t *testing.T) {
	e, nodes := startLabNodes(t, 2)
	n1, n2 := nodes[0], nodes[1]
	c, _ := e.Account(t, "tenant")
	const p56 = "fd12:3456:789a::/56"
	six := [2][2]string{{"fd12:3456:789a::11", "fd12:3456:789a::12"}, {"fd12:3456:789a::11", "fd12:3456:789a::22"}}
	var vpcs [3]string
	var hosts [3][2]model.Host // [vpc][node]; VPC 2 is IPv4-only
	zero := 0
	start := time.Now()
	for v := range 3 {
		req := api.CreateVPCRequest{CidrBlock: "192.168.0.0/16"}
		vreq := api.CreateVSwitchRequest{ZoneID: labZone, CidrBlock: "192.168.0.0/24"}
		if v < 2 {
			req.Ipv6CidrBlock, vreq.Ipv6CidrBlock = p56, &zero
		}
		vpc, err := c.CreateVPC(bg, req)
		must(t, err)
		vpcs[v] = vpc.VpcID
		vreq.VpcID = vpc.VpcID
		vsw, err := c.CreateVSwitch(bg, vreq)
		must(t, err)
		for i, n := range nodes {
			hr := api.CreateHostRequest{VSwitchID: vsw.VSwitchID, NodeName: n.Name, IP: fmt.Sprintf("192.168.0.%d", 11+i+10*v)}
			if v < 2 {
				hr.Ipv6Address = six[v][i]
			}
			h, err := c.CreateHost(bg, hr)
			must(t, err)
			if v < 2 && h.Ipv6Address.String() != six[v][i] {
				t.Fatalf("host IPv6 %v, want %s", h.Ipv6Address, six[v][i])
			}
			hosts[v][i] = h
		}
	}
	for v := range 3 {
		for i, n := range nodes {
			if v < 2 {
				n.serveName6(t, hosts[v][i].HostID, 7001, fmt.Sprintf("vpc%d-%s", v, n.Name))
			} else {
				n.serveName(t, hosts[v][i].HostID, 7001, fmt.Sprintf("vpc%d-%s", v, n.Name))
			}
		}
	}
	addr := func(v, i int) string { return netip.AddrPortFrom(netip.MustParseAddr(six[v][i]), 7001).String() }
	for v := range 2 {
		testenv.Eventually(t, fmt.Sprintf("vpc%d over IPv6: n1 -> n2", v), func() error {
			got, err := n1.hello(hosts[v][0].HostID, addr(v, 1))
			if want := fmt.Sprintf("vpc%d-%s hi", v, n2.Name); err == nil && got != want {
				err = fmt.Errorf("answer %q, want %q", got, want)
			}
			return err
		})
		if v == 0 {
			t.Logf("VPCs and hosts created -> first answer over IPv6 across nodes: %v", time.Since(start).Round(time.Millisecond))
		}
		got, err := n2.hello(hosts[v][1].HostID, addr(v, 0))
		if want := fmt.Sprintf("vpc%d-%s hi", v, n1.Name); err != nil || got != want {
			t.Errorf("vpc%d over IPv6: n2 -> n1 (the same address in both VPCs): %q, %v; want %q", v, got, err, want)
		}
	}
	// The IPv4-only VPC across nodes, as before.
	testenv.Eventually(t, "IPv4-only vpc2: n1 -> n2", func() error {
		got, err := n1.hello(hosts[2][0].HostID, hosts[2][1].IP.String()+":7001")
		if want := "vpc2-" + n2.Name + " hi"; err == nil && got != want {
			err = fmt.Errorf("answer %q, want %q", got, want)
		}
		return err
	})

	t.Run("64KiB", func(t *testing.T) {
		ln, err := n2.drv.Sockets.ListenHost(hosts[0][1].HostID, netip.MustParseAddrPort("[::]:7002"))
		must(t, err)
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				defer c.Close()
				io.Copy(c, c)
			}
		}()
		conn, err := n1.drv.Sockets.DialHost(bg, hosts[0][0].HostID, netip.MustParseAddrPort("["+six[0][1]+"]:7002"))
		must(t, err)
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		payload := make([]byte, 64<<10)
		for i := range payload {
			payload[i] = byte(i * 13)
		}
		go conn.Write(payload)
		back := make([]byte, len(payload))
		if _, err := io.ReadFull(conn, back); err != nil || !bytes.Equal(back, payload) {
			t.Fatalf("64 KiB over IPv6 across nodes: %v (intact: %v)", err, bytes.Equal(back, payload))
		}
	})

	t.Run("DF", func(t *testing.T) {
		hostNS := n1.NetnsPrefix + "-" + hosts[0][0].HostID
		dst := netip.MustParseAddr(six[0][1])
		if err := ping6In(hostNS, dst, 1452); err != nil {
			t.Errorf("1452-byte ICMPv6 echo with DF, n1 -> n2: %v", err)
		}
		if err := ping6In(hostNS, dst, 1453); !errors.Is(err, unix.EMSGSIZE) {
			t.Errorf("1453-byte ICMPv6 echo with DF: %v, want EMSGSIZE at the sender (VPC MTU 1500)", err)
		}
	})

	t.Run("isolation", func(t *testing.T) {
		// ::12 is VPC 0's only, ::22 VPC 1's only.
		if got, err := n1.hello(hosts[0][0].HostID, addr(1, 1)); err == nil {
			t.Errorf("VPC 0 reached VPC 1's %s: %q", six[1][1], got)
		}
		if got, err := n1.hello(hosts[1][0].HostID, addr(0, 1)); err == nil {
			t.Errorf("VPC 1 reached VPC 0's %s: %q", six[0][1], got)
		}
		if err := ping6In(n1.NetnsPrefix+"-"+hosts[0][0].HostID, netip.MustParseAddr(six[1][1]), 56); err == nil {
			t.Errorf("VPC 0 pinged VPC 1's %s", six[1][1])
		}
	})

	t.Run("entries", func(t *testing.T) {
		for v := range 2 {
			vni := e.Cache.State().VPCs[vpcs[v]].VNI
			remote := netip.MustParseAddr(six[v][1])
			if mac := n1.neighMAC6(t, vpcs[v], remote); mac != vtep(n2) {
				t.Errorf("vpc%d: n1 resolves %s to %q, want n2's VTEP %s", v, remote, mac, vtep(n2))
			}
			if mac := n1.neighMAC6(t, vpcs[v], netdrv.OverlayAddr6(e.Cache.State().NodeRegs[n2.Name].Index)); mac != vtep(n2) {
				t.Errorf("vpc%d: n1 resolves n2's IPv6 overlay address to %q", v, mac)
			}
			// The host learnt the remote address from its node's proxy NDP:
			// the anycast gateway MAC, as for IPv4.
			if mac := hostNeigh6(t, n1.NetnsPrefix+"-"+hosts[v][0].HostID, remote); mac != netdrv.GatewayMAC(vni).String() {
				t.Errorf("vpc%d: the host on n1 resolves %s to %q, want the gateway MAC %s", v, remote, mac, netdrv.GatewayMAC(vni))
			}
			// The router's own packets leave from its IPv6 overlay address
			// and the reply comes back to it (from the anycast ::1 it would
			// go to n2's router). The first try: the host on n2 learnt the
			// gateway's anycast MAC from the unsolicited NA (a stale seeded
			// MAC cost about 8 s here).
			if err := ping6In(n1.NetnsPrefix+"-"+vpcs[v], remote, 56); err != nil {
				t.Errorf("vpc%d: n1's router -> %s: %v", v, remote, err)
			}
		}
		// The IPv4-only VPC's copy: no IPv6 on its VXLAN device.
		if st := n1.vxIPv6State(t, vpcs[2]); st != "" {
			t.Errorf("IPv4-only VPC copy on n1 has IPv6 overlay state: %s", st)
		}
	})
}

// serveName6 answers each line with "<name> <line>" from inside a host,
// listening on [::] (the IPv4-only VPC's hosts are served by serveName,
// on 0.0.0.0).
func (n *labNode) serveName6(t *testing.T, hostID string, port uint16, name string) {
	n.serveLines(t, hostID, netip.AddrPortFrom(netip.IPv6Unspecified(), port), func(_ net.Conn, line string) string { return name + " " + line })
}

// socketIn makes a socket inside the named namespace (/run/netns/<ns>).
func socketIn(ns string, domain, typ, proto int) (int, error) {
	h, err := netns.GetFromPath("/run/netns/" + ns)
	if err != nil {
		return -1, err
	}
	defer h.Close()
	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	defer origin.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	fd, serr := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
	if err := netns.Set(origin); err != nil {
		// The thread stays in the wrong namespace: leave it locked, so it
		// ends with this goroutine.
		if serr == nil {
			unix.Close(fd)
		}
		return -1, err
	}
	runtime.UnlockOSThread()
	return fd, serr
}

// ping6In sends one ICMPv6 echo request with size bytes of data from the
// namespace ns to dst, fragmentation forbidden (IPV6_DONTFRAG), and waits
// up to 2 s for its reply. A send refused by the sender's MTU returns
// EMSGSIZE.
func ping6In(ns string, dst netip.Addr, size int) error {
	fd, err := socketIn(ns, unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, o := range [][2]int{{unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO}, {unix.IPV6_DONTFRAG, 1}} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o[0], o[1]); err != nil {
			return err
		}
	}
	tv := unix.Timeval{Usec: 200000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	id := (os.Getpid() + size) & 0xffff
	data := make([]byte, size)
	copy(data, "privlink ipv6 across nodes")
	b, err := (&icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: id, Seq: 1, Data: data}}).Marshal(nil)
	if err != nil {
		return err
	}
	if err := unix.Sendto(fd, b, 0, &unix.SockaddrInet6{Addr: dst.As16()}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 65536)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		m, err := icmp.ParseMessage(58, buf[:n])
		if err != nil {
			continue
		}
		switch body := m.Body.(type) {
		case *icmp.Echo:
			if m.Type == ipv6.ICMPTypeEchoReply && body.ID == id && len(body.Data) == size {
				return nil
			}
		case *icmp.DstUnreach:
			return fmt.Errorf("destination unreachable (code %d)", m.Code)
		case *icmp.PacketTooBig:
			return fmt.Errorf("packet too big (MTU %d)", body.MTU)
		}
	}
	return errors.New("no echo reply within 2s")
}

// vxHandle is a netlink handle in n's copy of vpcID and its VXLAN device.
func (n *labNode) vxHandle(t *testing.T, vpcID string) (*netlink.Handle, netlink.Link) {
	t.Helper()
	h, err := netns.GetFromPath("/run/netns/" + n.NetnsPrefix + "-" + vpcID)
	must(t, err)
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	must(t, err)
	t.Cleanup(nl.Close)
	link, err := nl.LinkByName(netdrv.VXLANName(vpcID))
	must(t, err)
	return nl, link
}

// neighMAC6 is the permanent NDP entry for ip on the VXLAN device of n's
// copy of vpcID ("" when there is none).
func (n *labNode) neighMAC6(t *testing.T, vpcID string, ip netip.Addr) string {
	t.Helper()
	nl, link := n.vxHandle(t, vpcID)
	neighs, err := nl.NeighList(link.Attrs().Index, unix.AF_INET6)
	must(t, err)
	for _, ne := range neighs {
		if ne.IP.Equal(ip.AsSlice()) && ne.State&netlink.NUD_PERMANENT != 0 {
			return ne.HardwareAddr.String()
		}
	}
	return ""
}

// vxIPv6State describes the IPv6 overlay state of n's copy of vpcID:
// global addresses, permanent NDP entries and routes on its VXLAN device,
// and proxy NDP entries ("" when there is none).
func (n *labNode) vxIPv6State(t *testing.T, vpcID string) string {
	t.Helper()
	nl, link := n.vxHandle(t, vpcID)
	var out []string
	addrs, err := nl.AddrList(link, unix.AF_INET6)
	must(t, err)
	for _, a := range addrs {
		if !a.IP.IsLinkLocalUnicast() {
			out = append(out, "address "+a.IPNet.String())
		}
	}
	neighs, err := nl.NeighList(link.Attrs().Index, unix.AF_INET6)
	must(t, err)
	for _, ne := range neighs {
		if ne.State&netlink.NUD_PERMANENT != 0 {
			out = append(out, "neighbour "+ne.IP.String())
		}
	}
	routes, err := nl.RouteList(link, unix.AF_INET6)
	must(t, err)
	for _, r := range routes {
		if r.Dst != nil && !r.Dst.IP.IsLinkLocalUnicast() {
			out = append(out, "route "+r.Dst.String())
		}
	}
	proxies, err := nl.NeighProxyList(0, unix.AF_INET6)
	must(t, err)
	for _, p := range proxies {
		out = append(out, "proxy "+p.IP.String())
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprint(out)
}

// hostNeigh6 is the MAC a host namespace's NDP table holds for ip ("" when
// none or not resolved).
func hostNeigh6(t *testing.T, ns string, ip netip.Addr) string {
	t.Helper()
	h, err := netns.GetFromPath("/run/netns/" + ns)
	must(t, err)
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	must(t, err)
	defer nl.Close()
	neighs, err := nl.NeighList(0, unix.AF_INET6)
	must(t, err)
	for _, ne := range neighs {
		if ne.IP.Equal(ip.AsSlice()) && ne.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE|netlink.NUD_PERMANENT) != 0 {
			return ne.HardwareAddr.String()
		}
	}
	return ""
}
