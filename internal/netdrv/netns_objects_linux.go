//go:build linux

package netdrv

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ------------------------------------------------------------ vSwitches

func vswAlias(vswID string) string   { return aliasMark + "vsw " + vswID }
func hostAlias(hostID string) string { return aliasMark + "host " + hostID }

// bridge returns the vSwitch's bridge; (nil, nil) if absent.
func (d *NetnsDriver) bridge(v *nsVPC, vswID string) (netlink.Link, error) {
	l, err := v.nl.LinkByName(BridgeName(vswID))
	if nsfs.IsLinkNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if l.Attrs().Alias == "" && !v.adopted {
		// Created but not yet marked when a crash came: in a namespace of
		// ours every link is ours. Remove it; EnsureVSwitch makes it anew.
		d.log.Warn("removing a half-made vSwitch bridge left by a crash", "vpc", v.id, "vswitch", vswID, "bridge", l.Attrs().Name)
		if err := v.nl.LinkDel(l); err != nil && !nsfs.IsLinkNotFound(err) {
			return nil, err
		}
		return nil, nil
	}
	if l.Attrs().Alias != vswAlias(vswID) {
		return nil, fmt.Errorf("netdrv: vpc %s: link %s exists but is not vSwitch %s (alias %q)", v.id, l.Attrs().Name, vswID, l.Attrs().Alias)
	}
	return l, nil
}

// EnsureVSwitch implements Topology.
func (d *NetnsDriver) EnsureVSwitch(vpcID, vswID string, cidr netip.Prefix, gw netip.Addr) error {
	if err := checkID("vswitch", vswID); err != nil {
		return err
	}
	if err := checkVSwitch(cidr, gw); err != nil {
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
	name := BridgeName(vswID)
	mac := bridgeMAC(vswID)
	if v.vni != 0 { // overlay copy: the distributed gateway's anycast MAC
		mac = GatewayMAC(v.vni)
	}
	if br == nil {
		if err := v.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac}}); err != nil {
			return fmt.Errorf("netdrv: vpc %s: create bridge %s: %w", vpcID, name, err)
		}
		if br, err = v.nl.LinkByName(name); err != nil {
			return err
		}
		if err := v.nl.LinkSetAlias(br, vswAlias(vswID)); err != nil {
			v.nl.LinkDel(br) //nolint:errcheck
			return err
		}
		d.log.Info("created vSwitch bridge", "vpc", vpcID, "vswitch", vswID, "bridge", name, "cidr", cidr)
	}
	if !bytes.Equal(br.Attrs().HardwareAddr, mac) { // a bridge made before the MAC was fixed
		if err := v.nl.LinkSetHardwareAddr(br, mac); err != nil {
			return fmt.Errorf("netdrv: vpc %s: MAC of %s: %w", vpcID, name, err)
		}
	}
	addrs, err := v.bridgeNets(br)
	if err != nil {
		return err
	}
	for _, a := range addrs { // drop a stale gateway of a different CIDR; keep ENIs (/32)
		if ones, _ := a.Mask.Size(); ones != 32 && !(addrOf(a) == gw && ones == cidr.Bits()) {
			if err := v.nl.AddrDel(br, &a); err != nil {
				return err
			}
		}
	}
	if findAddr(addrs, gw, cidr.Bits()) == nil {
		if err := v.nl.AddrAdd(br, &netlink.Addr{IPNet: ipNet(gw, cidr.Bits())}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("netdrv: vpc %s: gateway %s on %s: %w", vpcID, gw, name, err)
		}
	}
	v.setGateway(vswID, netip.PrefixFrom(gw, cidr.Bits()))
	if v.vni != 0 && d.node != nil {
		if err := d.bridgeOverlay(v, br); err != nil {
			return err
		}
	}
	return v.nl.LinkSetUp(br)
}

// bridgeMAC is the gateway's MAC on a vSwitch: fixed, derived from its ID,
// locally administered. Set explicitly, it never changes; left to the
// kernel, a bridge takes the lowest MAC of its ports and changes it when
// that port leaves, and the other hosts' ARP caches then point at nothing
// (their traffic to the gateway, the resolver and the ENIs is lost until
// the entries expire, up to half a minute).
func bridgeMAC(vswID string) net.HardwareAddr {
	sum := sha256.Sum256([]byte(vswID))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&^0x01 | 0x02 // unicast, locally administered
	return mac
}

// DeleteVSwitch implements Topology. Hosts on the vSwitch known to this driver
// are deleted too (namespace included); ENIs disappear with the bridge.
func (d *NetnsDriver) DeleteVSwitch(vpcID, vswID string) error {
	if err := checkID("vswitch", vswID); err != nil {
		return err
	}
	d.opMu.Lock()
	defer d.opMu.Unlock()
	var errs []error
	for _, id := range d.hostIDs(func(h Host) bool { return h.VpcID == vpcID && h.VSwitchID == vswID }) {
		errs = append(errs, d.deleteHost(id))
	}
	v, err := d.loadVPC(vpcID)
	if errors.Is(err, ErrNotFound) {
		return errors.Join(errs...)
	} else if err != nil {
		return errors.Join(append(errs, err)...)
	}
	delete(v.gateways, vswID)
	br, err := d.bridge(v, vswID)
	if err != nil || br == nil {
		return errors.Join(append(errs, err)...)
	}
	// Host veth ends enslaved to the bridge (hosts unknown to this process).
	links, err := nsfs.RetryDump(v.nl.LinkList)
	errs = append(errs, err)
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index && strings.HasPrefix(l.Attrs().Alias, aliasMark) {
			if err := v.nl.LinkDel(l); err != nil && !nsfs.IsLinkNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	if err := v.nl.LinkDel(br); err != nil && !nsfs.IsLinkNotFound(err) {
		errs = append(errs, err)
	}
	d.log.Info("deleted vSwitch", "vpc", vpcID, "vswitch", vswID)
	return errors.Join(errs...)
}

// ----------------------------------------------------------------- ENIs

// AddENI implements Topology: ip/32 on the vSwitch bridge, or for an
// IPv6 ENI ip/128 (ipv6_linux.go, addENI6). The ENI must be a host
// address of the vSwitch's CIDR other than its gateway; it is checked
// against the bridge's gateway prefix known to the driver (eniGateway),
// and the address is added without listing the bridge's others (an ENI
// already there is EEXIST, accepted): O(1) per add, whatever the ENIs.
func (d *NetnsDriver) AddENI(vpcID, vswID string, ip netip.Addr) error {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	if ip = ip.Unmap(); ip.Is6() {
		return d.addENI6(vpcID, vswID, ip)
	}
	if err := checkID("vswitch", vswID); err != nil {
		return err
	}
	v, err := d.loadVPC(vpcID)
	if err != nil {
		return err
	}
	br, err := d.bridge(v, vswID)
	if err != nil {
		return err
	}
	if br == nil {
		delete(v.gateways, vswID)
		return fmt.Errorf("%w: vswitch %s in vpc %s", ErrNotFound, vswID, vpcID)
	}
	gw, err := d.eniGateway(v, br, vswID)
	if err != nil {
		return err
	}
	if !ip.Is4() || !gw.IsValid() || !gw.Contains(ip) || ip == gw.Addr() || ip == gw.Masked().Addr() {
		return fmt.Errorf("netdrv: ENI %s is not a free host address of vSwitch %s", ip, vswID)
	}
	switch err := v.nl.AddrAdd(br, &netlink.Addr{IPNet: ipNet(ip, 32)}); {
	case errors.Is(err, unix.EEXIST):
		return nil
	case err != nil:
		return fmt.Errorf("netdrv: vpc %s: add ENI %s: %w", vpcID, ip, err)
	}
	d.log.Info("added ENI", "vpc", vpcID, "vswitch", vswID, "ip", ip)
	return nil
}

// eniGateway is the gateway prefix of vswID's bridge br (opMu held): the
// one EnsureVSwitch set, else read once from the bridge (a vSwitch made by
// a previous process) and kept. Invalid when the bridge carries none.
func (d *NetnsDriver) eniGateway(v *nsVPC, br netlink.Link, vswID string) (netip.Prefix, error) {
	if p, ok := v.gateways[vswID]; ok {
		return p, nil
	}
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(br, netlink.FAMILY_V4) })
	if err != nil {
		return netip.Prefix{}, err
	}
	for _, a := range addrs {
		if ones, _ := a.Mask.Size(); ones != 32 {
			p := netip.PrefixFrom(addrOf(a), ones)
			v.setGateway(vswID, p)
			return p, nil
		}
	}
	return netip.Prefix{}, nil
}

// bridgeNets returns the IPv4 addresses of bridge br other than /32s
// (opMu held). A netlink address dump returns every address of the
// namespace whatever the link asked for, and a VPC router holds one /32
// per ENI: at 10,000 ENIs, the agent's first round after a restart spent
// 0.36 s of CPU on its 50 vSwitches' dumps. So the first call of a VPC
// dumps once and keeps every bridge's non-/32 addresses, and each later
// call takes its bridge's entry (once: a bridge ensured again, or made
// after the dump, is read on its own).
func (v *nsVPC) bridgeNets(br netlink.Link) ([]netlink.Addr, error) {
	idx := br.Attrs().Index
	if as, ok := v.bridgeAddrs[idx]; ok {
		delete(v.bridgeAddrs, idx)
		return as, nil
	}
	first := v.bridgeAddrs == nil
	var link netlink.Link = br
	if first {
		link = nil
	}
	all, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(link, netlink.FAMILY_V4) })
	if err != nil {
		return nil, err
	}
	var mine []netlink.Addr
	if first {
		v.bridgeAddrs = map[int][]netlink.Addr{}
	}
	for _, a := range all {
		if ones, _ := a.Mask.Size(); ones == 32 {
			continue
		}
		switch {
		case a.LinkIndex == idx:
			mine = append(mine, a)
		case first:
			v.bridgeAddrs[a.LinkIndex] = append(v.bridgeAddrs[a.LinkIndex], a)
		}
	}
	return mine, nil
}

// setGateway records vswID's gateway prefix (opMu held).
func (v *nsVPC) setGateway(vswID string, p netip.Prefix) {
	if v.gateways == nil {
		v.gateways = map[string]netip.Prefix{}
	}
	v.gateways[vswID] = p
}

// RemoveENI implements Topology: the ENI's address is deleted from the
// bridge without listing the others (absent: nothing to do).
func (d *NetnsDriver) RemoveENI(vpcID, vswID string, ip netip.Addr) error {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	ip = ip.Unmap()
	if err := checkID("vswitch", vswID); err != nil {
		return err
	}
	v, err := d.loadVPC(vpcID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	br, err := d.bridge(v, vswID)
	if err != nil || br == nil {
		return err
	}
	// The kernel matches the prefix length too: a /32 (/128) delete never
	// takes the bridge's gateway address.
	if err := v.nl.AddrDel(br, &netlink.Addr{IPNet: ipNet(ip, ip.BitLen())}); err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return nil
		}
		return fmt.Errorf("netdrv: vpc %s: remove ENI %s: %w", vpcID, ip, err)
	}
	d.log.Info("removed ENI", "vpc", vpcID, "vswitch", vswID, "ip", ip)
	return nil
}

func (d *NetnsDriver) eniTarget(vpcID, vswID string) (*nsVPC, netlink.Link, []netlink.Addr, error) {
	return d.eniTargetFamily(vpcID, vswID, netip.IPv4Unspecified())
}

// eniTargetFamily is eniTarget listing the bridge's addresses of ip's family.
func (d *NetnsDriver) eniTargetFamily(vpcID, vswID string, ip netip.Addr) (*nsVPC, netlink.Link, []netlink.Addr, error) {
	if err := checkID("vswitch", vswID); err != nil {
		return nil, nil, nil, err
	}
	v, err := d.loadVPC(vpcID)
	if err != nil {
		return nil, nil, nil, err
	}
	br, err := d.bridge(v, vswID)
	if err != nil || br == nil {
		return v, nil, nil, err
	}
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(br, family) })
	return v, br, addrs, err
}

// ---------------------------------------------------------------- hosts

func (d *NetnsDriver) hostIDs(match func(Host) bool) []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var ids []string
	for id, h := range d.hosts {
		if match(h.h) {
			ids = append(ids, id)
		}
	}
	return ids
}

// HasHost implements Sockets: the host's namespace exists (made by this
// driver, another process with the same prefix, or a previous run). Like
// HasVPC it waits for an operation in progress, so a host being created is
// reported once it is plumbed.
func (d *NetnsDriver) HasHost(hostID string) bool {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	_, err := d.loadHost(hostID)
	return err == nil
}

// loadHost returns the host's namespace handle, opening a namespace left
// by a previous run if needed. Caller holds opMu.
func (d *NetnsDriver) loadHost(hostID string) (*nsHost, error) {
	d.mu.RLock()
	h := d.hosts[hostID]
	d.mu.RUnlock()
	if h != nil {
		return h, nil
	}
	if err := checkID("host", hostID); err != nil {
		return nil, err
	}
	ns, err := d.openNamed(d.nsName(hostID))
	if err != nil {
		return nil, err
	}
	if !ns.IsOpen() {
		return nil, fmt.Errorf("%w: host %s", ErrNotFound, hostID)
	}
	h = &nsHost{h: Host{ID: hostID}, ns: ns}
	d.mu.Lock()
	d.hosts[hostID] = h
	d.mu.Unlock()
	return h, nil
}

// EnsureHost implements Topology: namespace <prefix>-<hostID> with eth0
// (IP/prefix, default route via the gateway) whose veth peer vh-<id> is
// enslaved to the vSwitch bridge, plus /etc/netns/<ns>/resolv.conf.
func (d *NetnsDriver) EnsureHost(h Host) error {
	if err := checkHost(h); err != nil {
		return err
	}
	if err := checkHostIPv6(h); err != nil {
		return err
	}
	h.IP, h.Gateway = h.IP.Unmap(), h.Gateway.Unmap()
	d.opMu.Lock()
	defer d.opMu.Unlock()
	v, err := d.loadVPC(h.VpcID)
	if err != nil {
		return err
	}
	br, err := d.bridge(v, h.VSwitchID)
	if err != nil {
		return err
	}
	if br == nil {
		return fmt.Errorf("%w: vswitch %s in vpc %s", ErrNotFound, h.VSwitchID, h.VpcID)
	}
	name := d.nsName(h.ID)
	hs, err := d.loadHost(h.ID)
	if errors.Is(err, ErrNotFound) {
		ns, cerr := nsfs.Create(d.origin, name)
		if cerr != nil {
			return fmt.Errorf("netdrv: create host namespace %s: %w", name, cerr)
		}
		hs = &nsHost{ns: ns}
		d.mu.Lock()
		d.hosts[h.ID] = hs
		d.mu.Unlock()
		d.log.Info("created host namespace", "host", h.ID, "netns", name)
	} else if err != nil {
		return err
	}
	old := hs.h
	hnl, err := netlink.NewHandleAt(hs.ns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer hnl.Close()
	if err := d.hostIPv6Defaults(hs, h); err != nil {
		return fmt.Errorf("netdrv: host %s: ipv6: %w", h.ID, err)
	}
	if err := d.plumbHost(v, br, hnl, hs, h, old); err != nil {
		return fmt.Errorf("netdrv: host %s: %w", h.ID, err)
	}
	if err := d.hostIPv6(v, br, hnl, hs, h, old); err != nil {
		return fmt.Errorf("netdrv: host %s: ipv6: %w", h.ID, err)
	}
	d.mu.Lock()
	hs.h = h
	d.mu.Unlock()
	if err := writeResolvConf(name); err != nil {
		return err
	}
	// A new veth or bridge drops what is sent to it until the kernel's
	// linkwatch has processed its carrier (up to 1 s): report the host
	// ready only once its links are up, so its first packet is not lost.
	for _, w := range []struct {
		nl   *netlink.Handle
		name string
	}{{hnl, "eth0"}, {v.nl, hostVethName(h.ID)}, {v.nl, br.Attrs().Name}} {
		if err := nsfs.WaitOperUp(w.nl, w.name, 3*time.Second); err != nil {
			d.log.Warn("host link not up yet", "host", h.ID, "err", err)
		}
	}
	return nil
}

func (d *NetnsDriver) plumbHost(v *nsVPC, br netlink.Link, hnl *netlink.Handle, hs *nsHost, h, old Host) error {
	vname := hostVethName(h.ID)
	vl, err := v.nl.LinkByName(vname)
	if err != nil && !nsfs.IsLinkNotFound(err) {
		return err
	}
	eth, err := hnl.LinkByName("eth0")
	if err != nil && !nsfs.IsLinkNotFound(err) {
		return err
	}
	if vl != nil && vl.Attrs().Alias != hostAlias(h.ID) {
		if vl.Attrs().Alias != "" || v.adopted {
			return fmt.Errorf("vpc %s: link %s belongs to someone else (alias %q)", v.id, vname, vl.Attrs().Alias)
		}
		// A veth created but not yet marked when a crash came (in a
		// namespace of ours every link is ours): made anew below.
		d.log.Warn("replacing a half-made host veth left by a crash", "vpc", v.id, "host", h.ID, "veth", vname)
	}
	reuse := vl != nil && eth != nil && vl.Attrs().Alias == hostAlias(h.ID) &&
		(old.VpcID == "" || (old.VpcID == h.VpcID && old.VSwitchID == h.VSwitchID)) &&
		vl.Attrs().OperState == netlink.OperUp
	if !reuse {
		// (Re)create the pair. Deleting either end deletes the peer too.
		if eth != nil {
			if err := hnl.LinkDel(eth); err != nil && !nsfs.IsLinkNotFound(err) {
				return err
			}
		}
		if vl != nil {
			if err := v.nl.LinkDel(vl); err != nil && !nsfs.IsLinkNotFound(err) {
				return err
			}
		}
		// Both ends are created directly in their namespaces: nothing ever
		// appears in the host's namespace, not even briefly.
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: vname},
			PeerName:      "eth0",
			PeerNamespace: netlink.NsFd(int(hs.ns)),
		}
		if err := v.nl.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s/eth0: %w", vname, err)
		}
		if vl, err = v.nl.LinkByName(vname); err != nil {
			return err
		}
		if eth, err = hnl.LinkByName("eth0"); err != nil {
			return err
		}
		d.log.Info("plugged host", "host", h.ID, "vpc", h.VpcID, "vswitch", h.VSwitchID, "veth", vname, "ip", h.IP)
	}
	if v.vni != 0 && d.node != nil { // overlay copy: the VPC MTU on both ends
		mtu := d.node.cfg.VPCMTU
		if vl.Attrs().MTU != mtu {
			if err := v.nl.LinkSetMTU(vl, mtu); err != nil {
				return err
			}
		}
		if eth.Attrs().MTU != mtu {
			if err := hnl.LinkSetMTU(eth, mtu); err != nil {
				return err
			}
		}
	}
	// VPC side.
	if vl.Attrs().Alias != hostAlias(h.ID) {
		if err := v.nl.LinkSetAlias(vl, hostAlias(h.ID)); err != nil {
			return err
		}
	}
	if vl.Attrs().MasterIndex != br.Attrs().Index {
		if err := v.nl.LinkSetMaster(vl, br); err != nil {
			return err
		}
	}
	if err := v.nl.LinkSetUp(vl); err != nil {
		return err
	}
	// Host side.
	if lo, err := hnl.LinkByName("lo"); err != nil {
		return err
	} else if err := hnl.LinkSetUp(lo); err != nil {
		return err
	}
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return hnl.AddrList(eth, netlink.FAMILY_V4) })
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if ones, _ := a.Mask.Size(); addrOf(a) != h.IP || ones != h.Prefix.Bits() {
			if err := hnl.AddrDel(eth, &a); err != nil {
				return err
			}
		}
	}
	if findAddr(addrs, h.IP, h.Prefix.Bits()) == nil {
		if err := hnl.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(h.IP, h.Prefix.Bits())}); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	}
	if err := hnl.LinkSetUp(eth); err != nil {
		return err
	}
	gw := h.Gateway.As4()
	return hnl.RouteReplace(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.IP(gw[:])})
}

func writeResolvConf(nsName string) error {
	dir := filepath.Join(nsfs.EtcDir, nsName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	want := "nameserver " + ResolverIP.String() + "\n"
	p := filepath.Join(dir, "resolv.conf")
	if b, err := os.ReadFile(p); err == nil && string(b) == want {
		return nil
	}
	return os.WriteFile(p, []byte(want), 0o644)
}

// DeleteHost implements Topology.
func (d *NetnsDriver) DeleteHost(hostID string) error {
	if err := checkID("host", hostID); err != nil {
		return err
	}
	d.opMu.Lock()
	defer d.opMu.Unlock()
	return d.deleteHost(hostID)
}

func (d *NetnsDriver) deleteHost(hostID string) error {
	name := d.nsName(hostID)
	d.mu.Lock()
	hs := d.hosts[hostID]
	delete(d.hosts, hostID)
	d.mu.Unlock()
	var errs []error
	if hs != nil {
		hs.ns.Close()
	}
	errs = append(errs, nsfs.Teardown(name))
	errs = append(errs, os.RemoveAll(filepath.Join(nsfs.EtcDir, name)))
	if hs != nil {
		d.log.Info("deleted host", "host", hostID)
	}
	return errors.Join(errs...)
}
