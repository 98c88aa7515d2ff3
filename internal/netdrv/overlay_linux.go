//go:build linux

package netdrv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nodeState is the configured node: its namespace (where every VXLAN
// device's UDP socket lives) and a netlink handle there.
type nodeState struct {
	cfg Node // UnderlayIndex and VPCMTU filled in
	ns  netns.NsHandle
	nl  *netlink.Handle
}

func (n *nodeState) close() {
	if n != nil {
		n.nl.Close()
		n.ns.Close()
	}
}

func vpcAlias(vpcID string) string { return aliasMark + "vpc " + vpcID }

// SetNode implements Overlay.
func (d *NetnsDriver) SetNode(n Node) error {
	if err := checkNode(n); err != nil {
		return err
	}
	n.UnderlayAddr = n.UnderlayAddr.Unmap()
	d.opMu.Lock()
	defer d.opMu.Unlock()
	var ns netns.NsHandle
	if n.Namespace == "" {
		fd, err := unix.FcntlInt(uintptr(d.origin), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("netdrv: node namespace: %w", err)
		}
		ns = netns.NsHandle(fd)
	} else {
		h, err := nsfs.Open(n.Namespace)
		if err != nil {
			return fmt.Errorf("netdrv: node namespace %s: %w", n.Namespace, err)
		}
		ns = h
	}
	st, err := newNodeState(ns, n)
	if err != nil {
		ns.Close()
		return err
	}
	if d.node != nil {
		if d.node.cfg == st.cfg {
			st.close()
			return nil
		}
		if same := d.node.cfg; same.VPCMTU != st.cfg.VPCMTU {
			// Only the VPC MTU changes (the region's minimum moved): allowed
			// at any time; EnsureOverlay and EnsureHost apply it.
			same.VPCMTU = st.cfg.VPCMTU
			if same == st.cfg {
				d.log.Info("VPC MTU changed", "from", d.node.cfg.VPCMTU, "to", st.cfg.VPCMTU)
				d.node.close()
				d.node = st
				return nil
			}
		}
		d.mu.RLock()
		var busy []string
		for id, v := range d.vpcs {
			if v.vni != 0 {
				busy = append(busy, id)
			}
		}
		d.mu.RUnlock()
		if len(busy) > 0 {
			st.close()
			return fmt.Errorf("netdrv: node is already configured as %v and VPC overlays exist (%s)", d.node.cfg.UnderlayAddr, strings.Join(busy, ", "))
		}
		d.node.close()
	}
	d.node = st
	d.log.Info("node configured", "underlay", st.cfg.UnderlayAddr, "underlayIndex", st.cfg.UnderlayIndex,
		"index", st.cfg.Index, "overlayAddr", OverlayAddr(st.cfg.Index), "vpcMtu", st.cfg.VPCMTU)
	return nil
}

// newNodeState finds the underlay link in ns and fills in n's defaults.
// It takes ownership of ns only on success.
func newNodeState(ns netns.NsHandle, n Node) (*nodeState, error) {
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netdrv: netlink in the node namespace: %w", err)
	}
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return nl.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("netdrv: node addresses: %w", err)
	}
	var link netlink.Link
	for _, a := range addrs {
		if addrOf(a) == n.UnderlayAddr {
			if link, err = nl.LinkByIndex(a.LinkIndex); err != nil {
				nl.Close()
				return nil, fmt.Errorf("netdrv: underlay link: %w", err)
			}
			break
		}
	}
	switch {
	case link == nil:
		err = fmt.Errorf("netdrv: underlay address %v is on no link of the node namespace", n.UnderlayAddr)
	case n.UnderlayIndex != 0 && n.UnderlayIndex != link.Attrs().Index:
		err = fmt.Errorf("netdrv: underlay address %v is on link %d (%s), not on link %d", n.UnderlayAddr, link.Attrs().Index, link.Attrs().Name, n.UnderlayIndex)
	case n.VPCMTU == 0 && link.Attrs().MTU-VXLANOverhead < 1280:
		err = fmt.Errorf("netdrv: underlay link %s has MTU %d: a VPC MTU of %d is below 1280", link.Attrs().Name, link.Attrs().MTU, link.Attrs().MTU-VXLANOverhead)
	case n.VPCMTU > link.Attrs().MTU-VXLANOverhead:
		err = fmt.Errorf("netdrv: VPC MTU %d exceeds the underlay link %s's MTU %d minus the VXLAN overhead (%d): full-size packets would be lost", n.VPCMTU, link.Attrs().Name, link.Attrs().MTU, VXLANOverhead)
	}
	if err != nil {
		nl.Close()
		return nil, err
	}
	n.UnderlayIndex = link.Attrs().Index
	if n.VPCMTU == 0 {
		n.VPCMTU = link.Attrs().MTU - VXLANOverhead
	}
	return &nodeState{cfg: n, ns: ns, nl: nl}, nil
}

// NodeConfig implements Overlay.
func (d *NetnsDriver) NodeConfig() (Node, bool) {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	if d.node == nil {
		return Node{}, false
	}
	return d.node.cfg, true
}

// vxlan returns the VPC copy's VXLAN device; (nil, nil) if absent.
func (d *NetnsDriver) vxlan(v *nsVPC) (*netlink.Vxlan, error) {
	l, err := v.nl.LinkByName(VXLANName(v.id))
	if nsfs.IsLinkNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	vx, ok := l.(*netlink.Vxlan)
	if ok && l.Attrs().Alias == "" && !v.adopted {
		// Created but not yet marked when a crash came: in a namespace of
		// ours every link is ours. Remove it; EnsureOverlay makes it anew.
		d.log.Warn("removing a half-made VXLAN device left by a crash", "vpc", v.id, "device", l.Attrs().Name)
		if err := v.nl.LinkDel(l); err != nil && !nsfs.IsLinkNotFound(err) {
			return nil, err
		}
		return nil, nil
	}
	if !ok || l.Attrs().Alias != vpcAlias(v.id) {
		return nil, fmt.Errorf("netdrv: vpc %s: link %s exists but is not the VPC's VXLAN device (alias %q)", v.id, l.Attrs().Name, l.Attrs().Alias)
	}
	return vx, nil
}

// vxlanMatches reports whether an existing device is what the node wants.
func (n *nodeState) vxlanMatches(vx *netlink.Vxlan, vni int) bool {
	src, _ := netip.AddrFromSlice(vx.SrcAddr)
	return vx.VxlanId == vni && src.Unmap() == n.cfg.UnderlayAddr && vx.Port == VXLANPort && !vx.Learning &&
		vx.VtepDevIndex == n.cfg.UnderlayIndex && bytes.Equal(vx.HardwareAddr, VTEPMAC(n.cfg.UnderlayAddr))
}

// EnsureOverlay implements Overlay.
func (d *NetnsDriver) EnsureOverlay(vpcID string, vni int) error {
	if vni < 1 || vni > MaxVNI {
		return fmt.Errorf("netdrv: VNI %d out of range 1..%d", vni, MaxVNI)
	}
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	d.opMu.Lock()
	defer d.opMu.Unlock()
	n := d.node
	if n == nil {
		return fmt.Errorf("%w: the node is not configured (SetNode)", ErrNoOverlay)
	}
	v, err := d.loadVPC(vpcID)
	if err != nil {
		return err
	}
	d.mu.RLock()
	for id, o := range d.vpcs {
		if id != vpcID && o.vni == vni {
			d.mu.RUnlock()
			return fmt.Errorf("netdrv: vpc %s: VNI %d is already used by vpc %s on this node", vpcID, vni, id)
		}
	}
	d.mu.RUnlock()
	vx, err := d.vxlan(v)
	if err != nil {
		return err
	}
	mtu := n.cfg.VPCMTU
	if vx == nil || !n.vxlanMatches(vx, vni) {
		// A replacement is made first under a temporary name, so a refused
		// VNI (the kernel's EEXIST: a device of another prefix on this
		// node has it) leaves the old device and its entries untouched.
		name := VXLANName(vpcID)
		tmp := vxlanTempName(vpcID)
		if l, err := v.nl.LinkByName(tmp); err == nil { // left by a crash mid-replacement
			if err := v.nl.LinkDel(l); err != nil && !nsfs.IsLinkNotFound(err) {
				return fmt.Errorf("netdrv: vpc %s: delete leftover %s: %w", vpcID, tmp, err)
			}
		}
		if vx != nil && vx.VxlanId == vni {
			// Same VNI, other parameters (a changed underlay after a
			// restart): the kernel allows a VNI once per node namespace,
			// so the old device must go first.
			d.log.Info("replacing VXLAN device", "vpc", vpcID, "vni", vni)
			if err := v.nl.LinkDel(vx); err != nil && !nsfs.IsLinkNotFound(err) {
				return fmt.Errorf("netdrv: vpc %s: delete VXLAN device: %w", vpcID, err)
			}
			vx = nil
		}
		if vx != nil {
			name = tmp
		}
		created, err := d.createVXLAN(v, name, vni)
		if err != nil {
			return err
		}
		if vx != nil {
			d.log.Info("replacing VXLAN device", "vpc", vpcID, "oldVni", vx.VxlanId, "vni", vni)
			if err := v.nl.LinkDel(vx); err != nil && !nsfs.IsLinkNotFound(err) {
				v.nl.LinkDel(created) //nolint:errcheck
				return fmt.Errorf("netdrv: vpc %s: delete VXLAN device: %w", vpcID, err)
			}
			if err := v.nl.LinkSetName(created, VXLANName(vpcID)); err != nil {
				return fmt.Errorf("netdrv: vpc %s: rename %s: %w", vpcID, tmp, err)
			}
		}
		if err := v.nl.LinkSetAlias(created, vpcAlias(vpcID)); err != nil {
			v.nl.LinkDel(created) //nolint:errcheck
			return fmt.Errorf("netdrv: vpc %s: mark VXLAN device: %w", vpcID, err)
		}
		if vx, err = d.vxlan(v); err != nil || vx == nil {
			return fmt.Errorf("netdrv: vpc %s: VXLAN device not found after creating it: %v", vpcID, err)
		}
		d.log.Info("created VXLAN device", "vpc", vpcID, "vni", vni, "device", vx.Name, "underlay", n.cfg.UnderlayAddr, "mtu", mtu)
	}
	if vx.MTU != mtu {
		if err := v.nl.LinkSetMTU(vx, mtu); err != nil {
			return fmt.Errorf("netdrv: vpc %s: MTU of %s: %w", vpcID, vx.Name, err)
		}
	}
	if err := v.nl.LinkSetUp(vx); err != nil {
		return fmt.Errorf("netdrv: vpc %s: %s up: %w", vpcID, vx.Name, err)
	}
	if err := d.setOverlayAddr(v, vx, OverlayAddr(n.cfg.Index)); err != nil {
		return err
	}
	v.vni = vni
	links, err := nsfs.RetryDump(v.nl.LinkList)
	if err != nil {
		return err
	}
	for _, l := range links {
		alias := l.Attrs().Alias
		switch {
		case strings.HasPrefix(alias, aliasMark+"vsw "):
			if err := d.bridgeOverlay(v, l); err != nil {
				return err
			}
		case strings.HasPrefix(alias, aliasMark+"host ") && l.Attrs().MTU != mtu:
			if err := v.nl.LinkSetMTU(l, mtu); err != nil {
				return fmt.Errorf("netdrv: vpc %s: MTU of %s: %w", vpcID, l.Attrs().Name, err)
			}
		}
	}
	for _, id := range d.hostIDs(func(h Host) bool { return h.VpcID == vpcID }) {
		if err := d.hostMTU(id, mtu); err != nil {
			return err
		}
	}
	return nsfs.WaitOperUp(v.nl, vx.Name, 3*time.Second)
}

// createVXLAN creates a VPC copy's VXLAN device (not yet marked) named
// name. It is asked of the node namespace's netlink socket, so the
// device's UDP socket lives there, but born in the VPC namespace
// (IFLA_NET_NS_FD): it never appears in the node namespace.
func (d *NetnsDriver) createVXLAN(v *nsVPC, name string, vni int) (netlink.Link, error) {
	n := d.node
	ul := n.cfg.UnderlayAddr.As4()
	link := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: name, MTU: n.cfg.VPCMTU,
			HardwareAddr: VTEPMAC(n.cfg.UnderlayAddr), Namespace: netlink.NsFd(int(v.ns))},
		VxlanId:      vni,
		VtepDevIndex: n.cfg.UnderlayIndex,
		SrcAddr:      net.IP(ul[:]),
		Port:         VXLANPort,
		Learning:     false,
	}
	if err := n.nl.LinkAdd(link); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("netdrv: vpc %s: VNI %d is already used by another VXLAN device of this node: %w", v.id, vni, err)
		}
		return nil, fmt.Errorf("netdrv: vpc %s: create VXLAN device (VNI %d): %w", v.id, vni, err)
	}
	created, err := v.nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("netdrv: vpc %s: VXLAN device not found after creating it: %w", v.id, err)
	}
	return created, nil
}

func vxlanTempName(vpcID string) string { return "vn" + VXLANName(vpcID)[2:] }

// setOverlayAddr makes a/32 the only address on the VXLAN device.
func (d *NetnsDriver) setOverlayAddr(v *nsVPC, vx netlink.Link, a netip.Addr) error {
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(vx, netlink.FAMILY_V4) })
	if err != nil {
		return err
	}
	for _, x := range addrs {
		if ones, _ := x.Mask.Size(); addrOf(x) != a || ones != 32 {
			if err := v.nl.AddrDel(vx, &x); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return fmt.Errorf("netdrv: vpc %s: remove %s from %s: %w", v.id, x.IPNet, vx.Attrs().Name, err)
			}
		}
	}
	if findAddr(addrs, a, 32) == nil {
		if err := v.nl.AddrAdd(vx, &netlink.Addr{IPNet: ipNet(a, 32)}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("netdrv: vpc %s: overlay address %s: %w", v.id, a, err)
		}
	}
	return nil
}

// bridgeOverlay gives a vSwitch bridge of an overlay VPC copy the anycast
// gateway MAC, the VPC MTU, proxy ARP (it answers for addresses on other
// nodes) and no proxy delay for ARP and NDP (default up to 0.8 s per
// proxied reply).
// Caller holds opMu; v.vni != 0 and d.node != nil.
func (d *NetnsDriver) bridgeOverlay(v *nsVPC, br netlink.Link) error {
	name := br.Attrs().Name
	if mac := GatewayMAC(v.vni); !bytes.Equal(br.Attrs().HardwareAddr, mac) {
		if err := v.nl.LinkSetHardwareAddr(br, mac); err != nil {
			return fmt.Errorf("netdrv: vpc %s: MAC of %s: %w", v.id, name, err)
		}
		if err := d.announceIPv6Gateway(v, br, mac); err != nil {
			d.log.Warn("announce the IPv6 gateway's new MAC", "vpc", v.id, "bridge", name, "err", err)
		}
	}
	if mtu := d.node.cfg.VPCMTU; br.Attrs().MTU != mtu {
		if err := v.nl.LinkSetMTU(br, mtu); err != nil {
			return fmt.Errorf("netdrv: vpc %s: MTU of %s: %w", v.id, name, err)
		}
	}
	for key, val := range map[string]string{
		"net.ipv4.conf." + name + ".proxy_arp":    "1",
		"net.ipv4.neigh." + name + ".proxy_delay": "0",
		"net.ipv6.neigh." + name + ".proxy_delay": "0", // proxy NDP (overlay6_linux.go)
	} {
		if _, err := nsfs.Sysctl(d.origin, v.ns, key, val); err != nil {
			return fmt.Errorf("netdrv: vpc %s: %s: %w", v.id, key, err)
		}
	}
	return nil
}

// hostMTU sets the MTU of a host's eth0. Caller holds opMu.
func (d *NetnsDriver) hostMTU(hostID string, mtu int) error {
	hs, err := d.loadHost(hostID)
	if err != nil {
		return err
	}
	hnl, err := netlink.NewHandleAt(hs.ns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer hnl.Close()
	eth, err := hnl.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("netdrv: host %s: eth0: %w", hostID, err)
	}
	if eth.Attrs().MTU != mtu {
		if err := hnl.LinkSetMTU(eth, mtu); err != nil {
			return fmt.Errorf("netdrv: host %s: MTU of eth0: %w", hostID, err)
		}
	}
	return nil
}

// DeleteOverlay implements Overlay.
func (d *NetnsDriver) DeleteOverlay(vpcID string) error {
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	d.opMu.Lock()
	defer d.opMu.Unlock()
	v, err := d.loadVPC(vpcID)
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	vx, err := d.vxlan(v)
	if err != nil {
		return err
	}
	if vx != nil {
		if err := v.nl.LinkDel(vx); err != nil && !nsfs.IsLinkNotFound(err) {
			return fmt.Errorf("netdrv: vpc %s: delete VXLAN device: %w", vpcID, err)
		}
		d.log.Info("deleted VXLAN device", "vpc", vpcID, "vni", vx.VxlanId)
	}
	v.vni = 0
	v.remote6 = nil
	if _, err := d.proxyNDP(v); err != nil {
		return err
	}
	links, err := nsfs.RetryDump(v.nl.LinkList)
	if err != nil {
		return err
	}
	for _, l := range links {
		vswID, ok := strings.CutPrefix(l.Attrs().Alias, aliasMark+"vsw ")
		if !ok {
			continue
		}
		if mac := bridgeMAC(vswID); !bytes.Equal(l.Attrs().HardwareAddr, mac) {
			if err := v.nl.LinkSetHardwareAddr(l, mac); err != nil {
				return fmt.Errorf("netdrv: vpc %s: MAC of %s: %w", vpcID, l.Attrs().Name, err)
			}
			if err := d.announceIPv6Gateway(v, l, mac); err != nil {
				d.log.Warn("announce the IPv6 gateway's new MAC", "vpc", vpcID, "bridge", l.Attrs().Name, "err", err)
			}
		}
		if _, err := nsfs.Sysctl(d.origin, v.ns, "net.ipv4.conf."+l.Attrs().Name+".proxy_arp", "0"); err != nil {
			return err
		}
	}
	return nil
}

// SetOverlayEntries implements Overlay. Everything permanent on the VXLAN
// device is ours: FDB entries (AF_BRIDGE), neighbour entries (AF_INET,
// AF_INET6) and main-table routes not wanted are deleted; kernel-made
// (non-permanent) neighbour entries and the kernel's fe80::/64 route are
// left alone. The IPv6 side (overlay6_linux.go) follows. Added in the order FDB, neighbour,
// route and deleted in the reverse order, so a route never points at an
// unresolved neighbour and a neighbour never at an unknown node.
func (d *NetnsDriver) SetOverlayEntries(vpcID string, e Entries) error {
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	d.opMu.Lock()
	defer d.opMu.Unlock()
	if d.node == nil {
		return fmt.Errorf("%w: the node is not configured (SetNode)", ErrNoOverlay)
	}
	if err := checkEntries(e, d.node.cfg.Index); err != nil {
		return err
	}
	v, err := d.loadVPC(vpcID)
	if err != nil {
		return err
	}
	vx, err := d.vxlan(v)
	if err != nil {
		return err
	}
	if vx == nil {
		return fmt.Errorf("%w: VXLAN device of vpc %s (EnsureOverlay first)", ErrNotFound, vpcID)
	}
	idx := vx.Index
	wantFDB := map[string]netip.Addr{} // MAC -> underlay
	for _, p := range e.Peers {
		wantFDB[p.MAC.String()] = p.Underlay.Unmap()
	}
	wantNeigh := map[netip.Addr]string{}
	for a, mac := range e.Remote {
		wantNeigh[a.Unmap()] = mac.String()
	}

	fdb, err := nsfs.RetryDump(func() ([]netlink.Neigh, error) { return v.nl.NeighList(idx, unix.AF_BRIDGE) })
	if err != nil {
		return fmt.Errorf("netdrv: vpc %s: list FDB: %w", vpcID, err)
	}
	var neighs []netlink.Neigh
	var routes []netlink.Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		ns, err := nsfs.RetryDump(func() ([]netlink.Neigh, error) { return v.nl.NeighList(idx, fam) })
		if err != nil {
			return fmt.Errorf("netdrv: vpc %s: list neighbours: %w", vpcID, err)
		}
		rs, err := nsfs.RetryDump(func() ([]netlink.Route, error) {
			return v.nl.RouteListFiltered(fam, &netlink.Route{LinkIndex: idx, Table: unix.RT_TABLE_MAIN},
				netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		})
		if err != nil {
			return fmt.Errorf("netdrv: vpc %s: list routes: %w", vpcID, err)
		}
		neighs = append(neighs, ns...)
		for _, r := range rs {
			if r.Family == netlink.FAMILY_V6 && r.Protocol == unix.RTPROT_KERNEL {
				continue // the kernel's fe80::/64 of the device's link-local address
			}
			routes = append(routes, r)
		}
	}

	// Deletions: routes, neighbours, FDB.
	haveRoute := map[netip.Addr]bool{}
	for _, r := range routes {
		var dst netip.Addr
		ones := -1
		if r.Dst != nil {
			dst, _ = netip.AddrFromSlice(r.Dst.IP)
			dst = dst.Unmap()
			ones, _ = r.Dst.Mask.Size()
		}
		// IPv6 routes have no scope (the kernel reports universe).
		if _, ok := wantNeigh[dst]; ok && ones == dst.BitLen() && (r.Scope == netlink.SCOPE_LINK || dst.Is6()) && r.Gw == nil {
			haveRoute[dst] = true
			continue
		}
		if err := v.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("netdrv: vpc %s: delete route %v: %w", vpcID, r.Dst, err)
		}
	}
	haveNeigh := map[netip.Addr]bool{}
	for _, n := range neighs {
		if n.State&netlink.NUD_PERMANENT == 0 {
			continue
		}
		a, _ := netip.AddrFromSlice(n.IP)
		a = a.Unmap()
		if mac, ok := wantNeigh[a]; ok && mac == n.HardwareAddr.String() {
			haveNeigh[a] = true
			continue
		}
		if err := v.nl.NeighDel(&netlink.Neigh{LinkIndex: idx, Family: n.Family, IP: n.IP}); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("netdrv: vpc %s: delete neighbour %v: %w", vpcID, a, err)
		}
	}
	haveFDB := map[string]bool{}
	for _, f := range fdb {
		u, _ := netip.AddrFromSlice(f.IP)
		if want, ok := wantFDB[f.HardwareAddr.String()]; ok && want == u.Unmap() && !haveFDB[f.HardwareAddr.String()] {
			haveFDB[f.HardwareAddr.String()] = true
			continue
		}
		if err := v.nl.NeighDel(&netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			IP: f.IP, HardwareAddr: f.HardwareAddr}); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("netdrv: vpc %s: delete FDB entry %s: %w", vpcID, f.HardwareAddr, err)
		}
	}

	// Additions: FDB, neighbours, routes.
	var added int
	for _, p := range e.Peers {
		if haveFDB[p.MAC.String()] {
			continue
		}
		u := p.Underlay.Unmap().As4()
		if err := v.nl.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			State: netlink.NUD_PERMANENT, IP: net.IP(u[:]), HardwareAddr: p.MAC}); err != nil {
			return fmt.Errorf("netdrv: vpc %s: FDB entry %s -> %v: %w", vpcID, p.MAC, p.Underlay, err)
		}
		added++
	}
	for a, mac := range e.Remote {
		a = a.Unmap()
		fam := netlink.FAMILY_V4
		if a.Is6() {
			fam = netlink.FAMILY_V6
		}
		if !haveNeigh[a] {
			if err := v.nl.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: fam, Type: unix.RTN_UNICAST,
				State: netlink.NUD_PERMANENT, IP: net.IP(a.AsSlice()), HardwareAddr: mac}); err != nil {
				return fmt.Errorf("netdrv: vpc %s: neighbour %v -> %s: %w", vpcID, a, mac, err)
			}
			added++
		}
		if !haveRoute[a] {
			if err := v.nl.RouteReplace(&netlink.Route{LinkIndex: idx, Dst: ipNet(a, a.BitLen()), Scope: netlink.SCOPE_LINK}); err != nil {
				return fmt.Errorf("netdrv: vpc %s: route %v/%d: %w", vpcID, a, a.BitLen(), err)
			}
			added++
		}
	}
	n6, err := d.overlayIPv6(v, vx, e)
	if err != nil {
		return err
	}
	added += n6
	if added > 0 {
		d.log.Debug("overlay entries applied", "vpc", vpcID, "peers", len(e.Peers), "remote", len(e.Remote), "changed", added)
	}
	return nil
}

// AnnounceENI implements Overlay: for an IPv4 ENI one gratuitous ARP
// request (sender = target = ip, from the bridge's MAC, to broadcast) out
// of the vSwitch's bridge, sent from an AF_PACKET socket made in the VPC
// namespace; for an IPv6 ENI one unsolicited neighbour advertisement
// (override flag, to all nodes; announceENI6). Linux does not announce an
// address added over netlink (an IPv6 ENI is added without DAD).
func (d *NetnsDriver) AnnounceENI(vpcID, vswID string, ip netip.Addr) error {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	ip = ip.Unmap()
	v, br, addrs, err := d.eniTargetFamily(vpcID, vswID, ip)
	if err != nil {
		return err
	}
	if br == nil {
		return fmt.Errorf("%w: vswitch %s in vpc %s", ErrNotFound, vswID, vpcID)
	}
	if ip.Is6() {
		if findAddr(addrs, ip, 128) == nil {
			return fmt.Errorf("netdrv: vpc %s: ENI %s is not held on vSwitch %s", vpcID, ip, vswID)
		}
		if err := d.sendNA(v, br, br.Attrs().HardwareAddr, []netip.Addr{ip}, naOverride); err != nil {
			return fmt.Errorf("netdrv: vpc %s: unsolicited neighbour advertisement for %s: %w", vpcID, ip, err)
		}
		d.log.Info("announced ENI", "vpc", vpcID, "vswitch", vswID, "ip", ip)
		return nil
	}
	if findAddr(addrs, ip, 32) == nil {
		return fmt.Errorf("netdrv: vpc %s: ENI %s is not held on vSwitch %s", vpcID, ip, vswID)
	}
	pkt := garpPacket(br.Attrs().HardwareAddr, ip)
	err = nsfs.In(d.origin, v.ns, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: br.Attrs().Index, Halen: 6}
		copy(sa.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		return unix.Sendto(fd, pkt, 0, sa)
	})
	if err != nil {
		return fmt.Errorf("netdrv: vpc %s: gratuitous ARP for %s: %w", vpcID, ip, err)
	}
	d.log.Info("announced ENI", "vpc", vpcID, "vswitch", vswID, "ip", ip)
	return nil
}

// garpPacket is an ARP request payload with sender = target = ip.
func garpPacket(mac net.HardwareAddr, ip netip.Addr) []byte {
	a := ip.As4()
	p := make([]byte, 28)
	binary.BigEndian.PutUint16(p[0:], 1)      // hardware: Ethernet
	binary.BigEndian.PutUint16(p[2:], 0x0800) // protocol: IPv4
	p[4], p[5] = 6, 4
	binary.BigEndian.PutUint16(p[6:], 1) // request
	copy(p[8:], mac)
	copy(p[14:], a[:])
	copy(p[24:], a[:]) // target MAC stays zero
	return p
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
