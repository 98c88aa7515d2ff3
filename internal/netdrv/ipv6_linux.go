//go:build linux

package netdrv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// IPv6 in the netns driver (README, IPv6): a dual-stack vSwitch's bridge
// carries its /64's ::1 as the IPv6 gateway next to the IPv4 one, the VPC
// namespace forwards IPv6 as it forwards IPv4, and a dual-stack host's
// eth0 has its IPv6 address and a default route via that gateway.
//
// Duplicate address detection is disabled (accept_dad=0 on eth0 and the
// bridge, IFA_F_NODAD on the addresses): the control plane hands each
// address out once, so DAD has nothing to find, and a tentative address
// would fail the first connect (EADDRNOTAVAIL on bind, or a lost SYN)
// for about a second. IPv4-only vSwitches and hosts are not touched.

// settleLinkLocal turns DAD off on link and replaces its tentative
// link-local addresses by the same addresses without DAD: while the
// kernel's automatic fe80:: address of a new link is tentative (about a
// second), the first packets of a new IPv6 flow are lost (measured: the
// first connect took one SYN retransmission, 1 s, and none after it).
func (d *NetnsDriver) settleLinkLocal(nl *netlink.Handle, ns netns.NsHandle, link netlink.Link) error {
	name := link.Attrs().Name
	if _, err := nsfs.Sysctl(d.origin, ns, "net.ipv6.conf."+name+".accept_dad", "0"); err != nil {
		return fmt.Errorf("accept_dad on %s: %w", name, err)
	}
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return nl.AddrList(link, netlink.FAMILY_V6) })
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if !addrOf(a).IsLinkLocalUnicast() || a.Flags&unix.IFA_F_TENTATIVE == 0 {
			continue
		}
		if err := nl.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("replace tentative %s on %s: %w", a.IP, name, err)
		}
		b := &netlink.Addr{IPNet: a.IPNet, Flags: unix.IFA_F_NODAD, Scope: unix.RT_SCOPE_LINK}
		if err := nl.AddrAdd(link, b); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("re-add %s on %s: %w", a.IP, name, err)
		}
	}
	return nil
}

// hostIPv6Defaults turns DAD off for links made later in a dual-stack
// host's namespace (its eth0, made by plumbHost), so even its link-local
// address is never tentative.
func (d *NetnsDriver) hostIPv6Defaults(hs *nsHost, h Host) error {
	if !h.IP6.IsValid() {
		return nil
	}
	_, err := nsfs.Sysctl(d.origin, hs.ns, "net.ipv6.conf.default.accept_dad", "0")
	return err
}

// ipv6ProbeLimit bounds how long EnsureHost waits for a new dual-stack
// host's gateway to answer; 0 (benchmarks only) skips the seeding and the
// probe.
var ipv6ProbeLimit = 3 * time.Second

// allIPv6 is the IPv6 default route's destination.
var allIPv6 = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}

// EnsureVSwitchIPv6 gives an existing vSwitch bridge its IPv6 gateway (the
// ::1 of cidr6, a /64) and turns IPv6 forwarding on in the VPC namespace.
// EnsureHost does the same for a dual-stack host's vSwitch, so a caller
// that only plugs hosts need not call it. Idempotent.
func (d *NetnsDriver) EnsureVSwitchIPv6(vpcID, vswID string, cidr6 netip.Prefix) error {
	if err := checkIPv6Prefix(cidr6); err != nil {
		return err
	}
	d.opMu.Lock()
	defer d.opMu.Unlock()
	v, err := d.loadVPC(vpcID)
	if err != nil {
		return err
	}
	br, err := d.bridge(v, vswID)
	if err != nil {
		return err
	}
	if br == nil {
		return fmt.Errorf("%w: vswitch %s in vpc %s", ErrNotFound, vswID, vpcID)
	}
	return d.vswitchIPv6(v, br, cidr6)
}

// vswitchIPv6 is EnsureVSwitchIPv6 with opMu held.
func (d *NetnsDriver) vswitchIPv6(v *nsVPC, br netlink.Link, cidr6 netip.Prefix) error {
	if _, err := nsfs.Sysctl(d.origin, v.ns, "net.ipv6.conf.all.forwarding", "1"); err != nil {
		return fmt.Errorf("netdrv: vpc %s: ipv6 forwarding: %w", v.id, err)
	}
	name := br.Attrs().Name
	if err := d.settleLinkLocal(v.nl, v.ns, br); err != nil {
		return fmt.Errorf("netdrv: vpc %s: %w", v.id, err)
	}
	gw := IPv6Gateway(cidr6)
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(br, netlink.FAMILY_V6) })
	if err != nil {
		return err
	}
	for _, a := range addrs { // a stale gateway of another /64; keep link-local and /128s
		if ones, _ := a.Mask.Size(); ones == 64 && addrOf(a) != gw && !addrOf(a).IsLinkLocalUnicast() {
			if err := v.nl.AddrDel(br, &a); err != nil {
				return err
			}
		}
	}
	if findAddr(addrs, gw, 64) == nil {
		a := &netlink.Addr{IPNet: ipNet(gw, 64), Flags: unix.IFA_F_NODAD}
		if err := v.nl.AddrAdd(br, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("netdrv: vpc %s: IPv6 gateway %s on %s: %w", v.id, gw, name, err)
		}
		d.log.Info("vSwitch IPv6 gateway", "vpc", v.id, "bridge", name, "gateway", gw)
	}
	if len(v.remote6) > 0 { // an overlay copy: proxy NDP for the /64's remote addresses
		if _, err := d.proxyNDP(v); err != nil {
			return err
		}
	}
	return nil
}

// hostIPv6 gives a plumbed host its IPv6 side (opMu held): h's address
// on eth0 and the default route via the vSwitch's ::1, or, when h is IPv4
// only but old was not, removes both.
func (d *NetnsDriver) hostIPv6(v *nsVPC, br netlink.Link, hnl *netlink.Handle, hs *nsHost, h, old Host) error {
	if !h.IP6.IsValid() && !old.IP6.IsValid() {
		return nil
	}
	eth, err := hnl.LinkByName("eth0")
	if err != nil {
		return err
	}
	if h.IP6.IsValid() {
		if err := d.vswitchIPv6(v, br, h.Prefix6); err != nil {
			return err
		}
		if _, err := nsfs.Sysctl(d.origin, hs.ns, "net.ipv6.conf.eth0.accept_ra", "0"); err != nil {
			return fmt.Errorf("accept_ra on eth0: %w", err)
		}
		if err := d.settleLinkLocal(hnl, hs.ns, eth); err != nil {
			return err
		}
	}
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return hnl.AddrList(eth, netlink.FAMILY_V6) })
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if ip := addrOf(a); !ip.IsLinkLocalUnicast() && ip != h.IP6 {
			if err := hnl.AddrDel(eth, &a); err != nil {
				return err
			}
		}
	}
	if !h.IP6.IsValid() {
		err := hnl.RouteDel(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: allIPv6})
		if err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("remove IPv6 default route: %w", err)
		}
		return nil
	}
	if findAddr(addrs, h.IP6, 64) == nil {
		a := &netlink.Addr{IPNet: ipNet(h.IP6, 64), Flags: unix.IFA_F_NODAD}
		if err := hnl.AddrAdd(eth, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("IPv6 address %s: %w", h.IP6, err)
		}
	}
	gw := IPv6Gateway(h.Prefix6)
	if err := hnl.RouteReplace(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: allIPv6, Gw: net.IP(gw.AsSlice())}); err != nil {
		return fmt.Errorf("IPv6 default route via %s: %w", gw, err)
	}
	if ipv6ProbeLimit == 0 { // BenchmarkNetnsIPv6FirstConnect's baseline
		return nil
	}
	if err := d.seedNeighbours(v, br, hnl, eth, h.IP6, gw); err != nil {
		return err
	}
	start := time.Now()
	if err := d.probeIPv6Gateway(hs.ns, gw, ipv6ProbeLimit); err != nil {
		d.log.Warn("host IPv6 path not ready yet", "host", h.ID, "err", err)
	} else {
		d.log.Debug("host IPv6 gateway answers", "host", h.ID, "after", time.Since(start))
	}
	return nil
}

// seedNeighbours writes STALE neighbour entries for the host's gateway
// (in the host) and for the host (in the VPC router), with the links'
// current MACs. A new host's first neighbour solicitation for its gateway
// was lost in about half of the tries (the first connect then waited for
// the solicitation's retransmission, 1 s); with the entries seeded the
// first packets go out at once, and STALE entries are confirmed by
// unicast probes (NUD), so a MAC that changes later (an overlay copy's
// gateway) is learnt again rather than pinned.
func (d *NetnsDriver) seedNeighbours(v *nsVPC, br netlink.Link, hnl *netlink.Handle, eth netlink.Link, ip6, gw netip.Addr) error {
	brNow, err := v.nl.LinkByIndex(br.Attrs().Index)
	if err != nil {
		return err
	}
	ethNow, err := hnl.LinkByIndex(eth.Attrs().Index)
	if err != nil {
		return err
	}
	for _, n := range []struct {
		nl   *netlink.Handle
		link netlink.Link
		ip   netip.Addr
		mac  net.HardwareAddr
	}{{hnl, ethNow, gw, brNow.Attrs().HardwareAddr}, {v.nl, brNow, ip6, ethNow.Attrs().HardwareAddr}} {
		e := &netlink.Neigh{LinkIndex: n.link.Attrs().Index, Family: netlink.FAMILY_V6, State: netlink.NUD_STALE, IP: net.IP(n.ip.AsSlice()), HardwareAddr: n.mac}
		if err := n.nl.NeighSet(e); err != nil {
			return fmt.Errorf("seed neighbour %s on %s: %w", n.ip, n.link.Attrs().Name, err)
		}
	}
	return nil
}

// addENI6 puts an IPv6 ENI on a vSwitch bridge (opMu held): ip/128
// without DAD (a tentative address would refuse the listener's bind), in
// the /64 whose gateway (::1) the bridge carries; IPv6 forwarding and the
// gateway are made here when no dual-stack host did it yet.
func (d *NetnsDriver) addENI6(vpcID, vswID string, ip netip.Addr) error {
	v, br, addrs, err := d.eniTargetFamily(vpcID, vswID, ip)
	if err != nil {
		return err
	}
	if br == nil {
		return fmt.Errorf("%w: vswitch %s in vpc %s", ErrNotFound, vswID, vpcID)
	}
	cidr6 := netip.PrefixFrom(ip, 64).Masked()
	if ip.IsLinkLocalUnicast() || ip.Is4In6() || ip == cidr6.Addr() || ip == IPv6Gateway(cidr6) {
		return fmt.Errorf("netdrv: IPv6 ENI %s is not a host address of a /64", ip)
	}
	for _, a := range addrs { // the bridge's /64 must be ip's, when it has one
		if ones, _ := a.Mask.Size(); ones == 64 && !addrOf(a).IsLinkLocalUnicast() && !cidr6.Contains(addrOf(a)) {
			return fmt.Errorf("netdrv: IPv6 ENI %s is not in vSwitch %s's /64 (%s/64)", ip, vswID, addrOf(a))
		}
	}
	if err := d.vswitchIPv6(v, br, cidr6); err != nil {
		return err
	}
	if findAddr(addrs, ip, 128) != nil {
		return nil
	}
	if err := v.nl.AddrAdd(br, &netlink.Addr{IPNet: ipNet(ip, 128), Flags: unix.IFA_F_NODAD}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("netdrv: vpc %s: add IPv6 ENI %s: %w", vpcID, ip, err)
	}
	d.log.Info("added ENI", "vpc", vpcID, "vswitch", vswID, "ip", ip)
	return nil
}
