//go:build linux

package netdrv

// NETWORK SAFETY: as netns_linux_test.go: packets go only to addresses
// inside namespaces the test created; the root namespace is checked
// structurally.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// The ULA /56 both dual-stack VPCs of the test are given (as a user may).
var (
	v6net  = netip.MustParsePrefix("fd00:aaaa:bbbb::/56")
	v6sub0 = netip.MustParsePrefix("fd00:aaaa:bbbb::/64")
	v6sub1 = netip.MustParsePrefix("fd00:aaaa:bbbb:1::/64")
	v6ip10 = netip.MustParseAddr("fd00:aaaa:bbbb::10")
)

// ping6 sends one ICMPv6 echo request of size payload bytes from inside
// host hostID to dst with fragmentation forbidden (IPV6_DONTFRAG, path MTU
// discovery "do") and waits up to 2 s for the matching reply.
func ping6(d *NetnsDriver, hostID string, dst netip.Addr, size int) error {
	var res error
	err := d.runInHost(hostID, func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1); err != nil {
			return err
		}
		tv := unix.Timeval{Sec: 0, Usec: 200000}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		id := os.Getpid() & 0xffff
		data := make([]byte, size)
		copy(data, "privlink ipv6")
		b, err := (&icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: id, Seq: 1, Data: data}}).Marshal(nil)
		if err != nil {
			return err
		}
		if err := unix.Sendto(fd, b, 0, &unix.SockaddrInet6{Addr: dst.As16()}); err != nil {
			res = fmt.Errorf("send: %w", err)
			return nil
		}
		buf := make([]byte, 65536)
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				res = err
				return nil
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
				res = fmt.Errorf("destination unreachable (code %d)", m.Code)
				return nil
			}
		}
		res = errors.New("no echo reply within 2s")
		return nil
	})
	return errors.Join(err, res)
}

// globalIPv6 lists a namespace link's IPv6 addresses that are not
// link-local, with their flags.
func globalIPv6(t *testing.T, nl *netlink.Handle, link string) []netlink.Addr {
	t.Helper()
	l, err := nl.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := nl.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	var out []netlink.Addr
	for _, a := range addrs {
		if !addrOf(a).IsLinkLocalUnicast() {
			out = append(out, a)
		}
	}
	return out
}

func hostHandle(t *testing.T, d *NetnsDriver, hostID string) *netlink.Handle {
	t.Helper()
	hs, err := d.loadHost(hostID)
	if err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(hs.ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// TestNetnsIPv6DualStack: the topology of TestNetnsIsolationSameCIDR made
// dual-stack, both VPCs with the SAME ULA /56 (vSwitch A and B /64 number
// 0, vSwitch A2 number 1), plus an IPv4-only VPC C. Hosts of different
// vSwitches of VPC A reach each other over IPv6 (TCP, and a full-size
// ping6 with fragmentation forbidden; one byte more is refused by the
// sender); nothing crosses to VPC B although it has the same addresses;
// addresses are never tentative (DAD is off); VPC C's host has no IPv6
// address or route and its router does not forward IPv6; nothing of ours
// in the root namespace; a host made IPv4-only again loses its IPv6 side.
func TestNetnsIPv6DualStack(t *testing.T) {
	d := newTestNetns(t)
	tp := &topo{d: d, vpcA: newID("vpc"), vpcB: newID("vpc"), vswA: newID("vsw"), vswA2: newID("vsw"), vswB: newID("vsw")}
	v6 := func(h Host, ip string, p netip.Prefix) Host {
		h.IP6, h.Prefix6 = netip.MustParseAddr(ip), p
		return h
	}
	tp.hostA = v6(Host{ID: newID("i"), VpcID: tp.vpcA, VSwitchID: tp.vswA, IP: ip10, Prefix: cidr0, Gateway: gw0}, "fd00:aaaa:bbbb::10", v6sub0)
	tp.hostA2 = v6(Host{ID: newID("i"), VpcID: tp.vpcA, VSwitchID: tp.vswA2, IP: netip.MustParseAddr("192.168.1.10"), Prefix: cidr1, Gateway: gw1}, "fd00:aaaa:bbbb:1::10", v6sub1)
	tp.hostB = v6(Host{ID: newID("i"), VpcID: tp.vpcB, VSwitchID: tp.vswB, IP: ip10, Prefix: cidr0, Gateway: gw0}, "fd00:aaaa:bbbb::10", v6sub0)
	tp.hostB2 = v6(Host{ID: newID("i"), VpcID: tp.vpcB, VSwitchID: tp.vswB, IP: netip.MustParseAddr("192.168.0.11"), Prefix: cidr0, Gateway: gw0}, "fd00:aaaa:bbbb::11", v6sub0)
	rootBefore := rootLinkNames(t)
	tp.ensure(t)
	vpcC, vswC := newID("vpc"), newID("vsw")
	hostC := Host{ID: newID("i"), VpcID: vpcC, VSwitchID: vswC, IP: ip10, Prefix: cidr0, Gateway: gw0}
	if err := d.EnsureVPC(vpcC); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureVSwitch(vpcC, vswC, cidr0, gw0); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureHost(hostC); err != nil {
		t.Fatal(err)
	}
	tp.ensure(t) // idempotent

	a7001 := netip.AddrPortFrom(v6ip10, 7001)
	lnA, err := d.ListenHost(tp.hostA.ID, a7001)
	if err != nil {
		t.Fatal(err)
	}
	serveTag(t, lnA, "A6")
	b7002 := netip.AddrPortFrom(v6ip10, 7002)
	lnB, err := d.ListenHost(tp.hostB.ID, b7002)
	if err != nil {
		t.Fatal(err)
	}
	serveTag(t, lnB, "B6")
	fromHost := func(h Host, ap netip.AddrPort) func(context.Context) (net.Conn, error) {
		return func(ctx context.Context) (net.Conn, error) { return d.DialHost(ctx, h.ID, ap) }
	}
	for _, r := range []struct {
		name string
		dial func(context.Context) (net.Conn, error)
		want string
	}{
		{"host A2 (other vSwitch) -> host A", fromHost(tp.hostA2, a7001), "A6"},
		{"VPC A router -> host A", func(ctx context.Context) (net.Conn, error) { return d.Dial(ctx, tp.vpcA, a7001) }, "A6"},
		{"host B2 -> host B", fromHost(tp.hostB2, b7002), "B6"},
	} {
		if got, err := readTag(r.dial); err != nil || got != r.want {
			t.Errorf("%s: got %q, %v; want %q", r.name, got, err, r.want)
		}
	}
	// The first connection of a fresh pair: no tentative address to trip on.
	for _, h := range []Host{tp.hostA, tp.hostA2, tp.hostB, tp.hostB2} {
		got := globalIPv6(t, hostHandle(t, d, h.ID), "eth0")
		if len(got) != 1 || addrOf(got[0]) != h.IP6 || got[0].Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			t.Errorf("host %s eth0 IPv6 addresses %v, want only %s, not tentative", h.ID, got, h.IP6)
		}
	}
	for _, s := range []struct{ vpc, vsw, gw string }{{tp.vpcA, tp.vswA, "fd00:aaaa:bbbb::1"}, {tp.vpcA, tp.vswA2, "fd00:aaaa:bbbb:1::1"}, {tp.vpcB, tp.vswB, "fd00:aaaa:bbbb::1"}} {
		got := globalIPv6(t, d.vpcs[s.vpc].nl, BridgeName(s.vsw))
		if len(got) != 1 || addrOf(got[0]).String() != s.gw || got[0].Flags&unix.IFA_F_TENTATIVE != 0 {
			t.Errorf("bridge of %s: IPv6 %v, want only gateway %s", s.vsw, got, s.gw)
		}
	}

	// ping6 across vSwitches, full size for a 1500-byte MTU with DF: 1500
	// - 40 (IPv6) - 8 (ICMPv6) = 1452 bytes; 1453 is refused at the sender.
	if err := ping6(d, tp.hostA2.ID, tp.hostA.IP6, 1452); err != nil {
		t.Errorf("ping6 A2 -> A, 1452 bytes, DF: %v", err)
	}
	if err := ping6(d, tp.hostA.ID, netip.MustParseAddr("fd00:aaaa:bbbb:1::1"), 1452); err != nil {
		t.Errorf("ping6 A -> other vSwitch's gateway: %v", err)
	}
	if err := ping6(d, tp.hostA2.ID, tp.hostA.IP6, 1453); !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("ping6 1453 bytes with DF: %v, want EMSGSIZE at the sender", err)
	}

	// Isolation: the same /56 in VPC B is VPC B's; A2's /64 does not
	// exist there at all.
	for _, r := range []struct {
		name string
		dial func(context.Context) (net.Conn, error)
	}{
		{"host B2 -> host A's listener", fromHost(tp.hostB2, a7001)},
		{"host B -> host A's listener", fromHost(tp.hostB, a7001)},
		{"host A2 -> host B's listener", fromHost(tp.hostA2, b7002)},
		{"host B2 -> host A2's address", fromHost(tp.hostB2, netip.AddrPortFrom(tp.hostA2.IP6, 7001))},
	} {
		if got, err := readTag(r.dial); err == nil {
			t.Errorf("%s: connected (%q)", r.name, got)
		} else if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENETUNREACH) && !errors.Is(err, syscall.EHOSTUNREACH) {
			t.Logf("%s: %v", r.name, err)
		}
	}
	if err := ping6(d, tp.hostB2.ID, tp.hostA2.IP6, 56); err == nil {
		t.Error("ping6 from VPC B reached VPC A's host A2")
	}

	// IPv4-only VPC C: no IPv6 address or route on its host, no IPv6
	// forwarding in its router.
	hc := hostHandle(t, d, hostC.ID)
	if got := globalIPv6(t, hc, "eth0"); len(got) != 0 {
		t.Errorf("IPv4-only host has IPv6 addresses %v", got)
	}
	if routes, err := hc.RouteList(nil, netlink.FAMILY_V6); err != nil {
		t.Fatal(err)
	} else {
		for _, r := range routes {
			if r.Gw != nil {
				t.Errorf("IPv4-only host has an IPv6 route via %v", r.Gw)
			}
		}
	}
	if fw, err := nsfs.Sysctl(d.origin, d.vpcs[vpcC].ns, "net.ipv6.conf.all.forwarding", ""); err != nil || fw != "0" {
		t.Errorf("IPv4-only VPC forwards IPv6: %q %v", fw, err)
	}
	if fw, err := nsfs.Sysctl(d.origin, d.vpcs[tp.vpcA].ns, "net.ipv6.conf.all.forwarding", ""); err != nil || fw != "1" {
		t.Errorf("dual-stack VPC does not forward IPv6: %q %v", fw, err)
	}

	// Root namespace: no link, address or route of ours.
	for n := range rootLinkNames(t) {
		if !rootBefore[n] {
			t.Errorf("new link %q in the root namespace", n)
		}
	}
	if addrs, err := netlink.AddrList(nil, netlink.FAMILY_V6); err != nil {
		t.Fatal(err)
	} else {
		for _, a := range addrs {
			if v6net.Contains(addrOf(a)) {
				t.Errorf("VPC IPv6 address %v in the root namespace", a)
			}
		}
	}

	// Made IPv4-only again, host A2 loses its IPv6 address and route.
	a2 := tp.hostA2
	a2.IP6, a2.Prefix6 = netip.Addr{}, netip.Prefix{}
	if err := d.EnsureHost(a2); err != nil {
		t.Fatal(err)
	}
	if got := globalIPv6(t, hostHandle(t, d, a2.ID), "eth0"); len(got) != 0 {
		t.Errorf("host A2 made IPv4-only keeps %v", got)
	}
	if err := ping6(d, tp.hostA.ID, tp.hostA2.IP6, 56); err == nil {
		t.Error("ping6 still reaches host A2 after it became IPv4-only")
	}
}

// TestNetnsIPv6Validation: bad IPv6 host and vSwitch input is refused
// before anything is made.
func TestNetnsIPv6Validation(t *testing.T) {
	d := newTestNetns(t)
	vpc, vsw := newID("vpc"), newID("vsw")
	if err := d.EnsureVPC(vpc); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureVSwitch(vpc, vsw, cidr0, gw0); err != nil {
		t.Fatal(err)
	}
	base := Host{ID: newID("i"), VpcID: vpc, VSwitchID: vsw, IP: ip10, Prefix: cidr0, Gateway: gw0}
	for _, tc := range []struct {
		name string
		ip   string
		p    string
	}{
		{"address without prefix", "fd00::10", ""},
		{"prefix without address", "", "fd00::/64"},
		{"address outside", "fd00:1::10", "fd00::/64"},
		{"gateway", "fd00::1", "fd00::/64"},
		{"subnet anycast", "fd00::", "fd00::/64"},
		{"not a /64", "fd00::10", "fd00::/56"},
		{"ipv4 address", "10.0.0.1", "fd00::/64"},
		{"unmasked", "fd00::10", "fd00::5/64"},
	} {
		h := base
		if tc.ip != "" {
			h.IP6 = netip.MustParseAddr(tc.ip)
		}
		if tc.p != "" {
			h.Prefix6 = netip.MustParsePrefix(tc.p)
		}
		if err := d.EnsureHost(h); err == nil || !strings.Contains(err.Error(), "netdrv: ") {
			t.Errorf("%s: %v", tc.name, err)
		}
		if d.HasHost(h.ID) {
			t.Errorf("%s: host made", tc.name)
		}
	}
	if err := d.EnsureVSwitchIPv6(vpc, vsw, netip.MustParsePrefix("fd00::/56")); err == nil {
		t.Error("a /56 accepted as a vSwitch IPv6 CIDR")
	}
	if err := d.EnsureVSwitchIPv6(vpc, newID("vsw"), v6sub0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown vSwitch: %v", err)
	}
	if err := d.EnsureVSwitchIPv6(vpc, vsw, v6sub0); err != nil {
		t.Fatal(err)
	}
	if got := globalIPv6(t, d.vpcs[vpc].nl, BridgeName(vsw)); len(got) != 1 || addrOf(got[0]) != IPv6Gateway(v6sub0) {
		t.Errorf("bridge IPv6 %v", got)
	}
}
