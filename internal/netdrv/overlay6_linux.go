//go:build linux

package netdrv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// IPv6 across nodes (README, Overlay): a dual-stack VPC copy's VXLAN
// device carries, next to the IPv4 entries, a permanent NDP neighbour
// entry and a /128 route per remote IPv6 address (the same VTEP MACs and
// FDB entries: the underlay stays IPv4, and the 50 bytes of VXLAN do not
// depend on the inner family). The gateway ::1 of each /64 is on the
// vSwitch bridge of every node with the anycast gateway MAC (as the IPv4
// gateway), and the router answers the hosts' neighbour solicitations
// for remote addresses of a bridge's /64 by proxy NDP: one proxy entry
// per remote address on that bridge (Linux has no blanket proxy NDP like
// proxy_arp, and a proxy entry joins the address's solicited-node group
// on its device, so it cannot be device-less). The device also carries
// the node's IPv6 overlay address (OverlayAddr6), the source of what the
// router itself sends to remote IPv6 addresses.

// overlayIPv6 applies the IPv6 side of e to the copy (opMu held): the
// node's IPv6 overlay address on vx and proxy NDP for the remote
// addresses; for an IPv4-only copy it removes both. It returns how many
// objects it changed.
func (d *NetnsDriver) overlayIPv6(v *nsVPC, vx netlink.Link, e Entries) (int, error) {
	var remote6 []netip.Addr
	var changed int
	if e.IPv6 {
		for a := range e.Remote {
			if a = a.Unmap(); a.Is6() && !OverlayPrefix6.Contains(a) {
				remote6 = append(remote6, a)
			}
		}
		for key, val := range map[string]string{
			"net.ipv6.conf.all.forwarding":                     "1",
			"net.ipv6.conf.all.proxy_ndp":                      "1",
			"net.ipv6.conf." + vx.Attrs().Name + ".accept_dad": "0",
		} {
			if _, err := nsfs.Sysctl(d.origin, v.ns, key, val); err != nil {
				return 0, fmt.Errorf("netdrv: vpc %s: %s: %w", v.id, key, err)
			}
		}
	}
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(vx, netlink.FAMILY_V6) })
	if err != nil {
		return 0, fmt.Errorf("netdrv: vpc %s: addresses of %s: %w", v.id, vx.Attrs().Name, err)
	}
	self6 := netip.Addr{}
	if e.IPv6 {
		self6 = OverlayAddr6(d.node.cfg.Index)
	}
	for _, x := range addrs {
		if a := addrOf(x); !a.IsLinkLocalUnicast() && a != self6 {
			if err := v.nl.AddrDel(vx, &x); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return 0, fmt.Errorf("netdrv: vpc %s: remove %s from %s: %w", v.id, x.IPNet, vx.Attrs().Name, err)
			}
			changed++
		}
	}
	if self6.IsValid() && findAddr(addrs, self6, 128) == nil {
		a := &netlink.Addr{IPNet: ipNet(self6, 128), Flags: unix.IFA_F_NODAD | unix.IFA_F_NOPREFIXROUTE}
		if err := v.nl.AddrAdd(vx, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return 0, fmt.Errorf("netdrv: vpc %s: IPv6 overlay address %s: %w", v.id, self6, err)
		}
		changed++
	}
	v.remote6 = remote6
	n, err := d.proxyNDP(v)
	return changed + n, err
}

// proxyNDP makes the copy's proxy NDP entries exactly one per address of
// v.remote6 on the bridge whose IPv6 gateway /64 holds it (opMu held).
// Called after the entries change and after a bridge gets its IPv6
// gateway (vswitchIPv6), so a vSwitch made IPv6 later answers too.
func (d *NetnsDriver) proxyNDP(v *nsVPC) (int, error) {
	links, err := nsfs.RetryDump(v.nl.LinkList)
	if err != nil {
		return 0, err
	}
	want := map[string]bool{} // "<ifindex> <addr>"
	for _, l := range links {
		if !strings.HasPrefix(l.Attrs().Alias, aliasMark+"vsw ") {
			continue
		}
		if len(v.remote6) == 0 {
			continue
		}
		addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(l, netlink.FAMILY_V6) })
		if err != nil {
			return 0, err
		}
		for _, x := range addrs {
			if ones, _ := x.Mask.Size(); ones != 64 || addrOf(x).IsLinkLocalUnicast() {
				continue
			}
			p := netip.PrefixFrom(addrOf(x), 64).Masked()
			for _, a := range v.remote6 {
				if p.Contains(a) {
					want[fmt.Sprint(l.Attrs().Index, " ", a)] = true
				}
			}
		}
	}
	have, err := nsfs.RetryDump(func() ([]netlink.Neigh, error) { return v.nl.NeighProxyList(0, netlink.FAMILY_V6) })
	if err != nil {
		return 0, fmt.Errorf("netdrv: vpc %s: list proxy NDP entries: %w", v.id, err)
	}
	var changed int
	for _, n := range have {
		a, _ := netip.AddrFromSlice(n.IP)
		k := fmt.Sprint(n.LinkIndex, " ", a.Unmap())
		if want[k] {
			delete(want, k)
			continue
		}
		if err := v.nl.NeighDel(&netlink.Neigh{LinkIndex: n.LinkIndex, Family: netlink.FAMILY_V6, Flags: netlink.NTF_PROXY, IP: n.IP}); err != nil && !errors.Is(err, unix.ENOENT) {
			return changed, fmt.Errorf("netdrv: vpc %s: delete proxy NDP entry %s: %w", v.id, a, err)
		}
		changed++
	}
	for k := range want {
		var idx int
		var s string
		fmt.Sscan(k, &idx, &s)
		a := netip.MustParseAddr(s)
		if err := v.nl.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V6, Flags: netlink.NTF_PROXY, IP: net.IP(a.AsSlice())}); err != nil {
			return changed, fmt.Errorf("netdrv: vpc %s: proxy NDP entry %s: %w", v.id, a, err)
		}
		changed++
	}
	return changed, nil
}

// announceIPv6Gateway sends, out of the bridge br, one unsolicited
// neighbour advertisement (router and override flags, to all nodes) for
// each IPv6 gateway the bridge holds, with the bridge's MAC mac (opMu
// held). A bridge of a copy that joins the overlay changes its MAC to the
// anycast gateway MAC after its hosts were plugged, and their neighbour
// entries for the gateway (seeded at plug time, seedNeighbours) would
// otherwise keep the old MAC until NUD gives up on it: measured, about 8 s
// without IPv6 to anything off-link. IPv4 hosts are not seeded.
func (d *NetnsDriver) announceIPv6Gateway(v *nsVPC, br netlink.Link, mac net.HardwareAddr) error {
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(br, netlink.FAMILY_V6) })
	if err != nil {
		return err
	}
	var gws []netip.Addr
	for _, a := range addrs {
		if ones, _ := a.Mask.Size(); ones == 64 && !addrOf(a).IsLinkLocalUnicast() {
			gws = append(gws, addrOf(a))
		}
	}
	if len(gws) == 0 {
		return nil
	}
	return d.sendNA(v, br, mac, gws, naRouter|naOverride)
}

// Flags of a neighbour advertisement (RFC 4861 4.4).
const (
	naRouter   = 0x80
	naOverride = 0x20
)

// sendNA sends, out of the bridge br of v, one unsolicited neighbour
// advertisement per target (flags, to all nodes, target link-layer
// address mac) from a raw ICMPv6 socket made in the VPC namespace (opMu
// held). Receivers with an entry for a target take mac (with override);
// those without one ignore it.
func (d *NetnsDriver) sendNA(v *nsVPC, br netlink.Link, mac net.HardwareAddr, targets []netip.Addr, flags byte) error {
	return nsfs.In(d.origin, v.ns, func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, br.Attrs().Index); err != nil {
			return err
		}
		allNodes := netip.MustParseAddr("ff02::1").As16()
		for _, target := range targets {
			// Type 136, code 0, checksum (the kernel's), flags, target,
			// option 2 (target link-layer address, 8 bytes).
			p := make([]byte, 32)
			p[0], p[4] = 136, flags
			t := target.As16()
			copy(p[8:], t[:])
			p[24], p[25] = 2, 1
			copy(p[26:], mac)
			sa := &unix.SockaddrInet6{Addr: allNodes, ZoneId: uint32(br.Attrs().Index)}
			if err := unix.Sendto(fd, p, 0, sa); err != nil {
				return fmt.Errorf("neighbour advertisement for %s on %s: %w", target, br.Attrs().Name, err)
			}
		}
		return nil
	})
}
