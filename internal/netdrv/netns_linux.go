//go:build linux

package netdrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Ownership marks. Links we create carry an alias starting with aliasMark,
// the resolver address we add carries resolverLabel, so that what we added
// to an adopted namespace can be found and removed again.
const (
	aliasMark     = "privlink "
	resolverLabel = "lo:privlink"
)

var prefixRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// NetnsDriver is the driver backed by Linux network namespaces: both
// Topology and Sockets, plus a few helpers (VPCNamespace, Prefix, Close).
type NetnsDriver struct {
	prefix string
	log    *slog.Logger
	origin netns.NsHandle // the process's namespace, restored after socket creation
	ipPath string

	opMu sync.Mutex // serialises control-plane operations

	mu    sync.RWMutex // guards the maps and the handles' lifetime
	vpcs  map[string]*nsVPC
	hosts map[string]*nsHost

	node *nodeState // nil until SetNode: no overlay (single machine); guarded by opMu
}

type nsVPC struct {
	id          string
	path        string // namespace file (/run/netns/<prefix>-<id> or the adopted path)
	adopted     bool
	ns          netns.NsHandle
	nl          *netlink.Handle
	prevForward string       // adopted only: ip_forward before we set it ("" = untouched)
	vni         int          // VNI of the copy's VXLAN device, 0 = no overlay; guarded by opMu
	remote6     []netip.Addr // IPv6 remote addresses last set (proxy NDP, overlay6_linux.go); guarded by opMu
	// gateways is each vSwitch bridge's gateway address with its CIDR's
	// length, as EnsureVSwitch set it or AddENI read it once (eniGateway);
	// guarded by opMu, dropped by DeleteVSwitch. AddENI checks an ENI
	// against it instead of listing the bridge's addresses (O(ENIs) per
	// add).
	gateways map[string]netip.Prefix
	// bridgeAddrs holds, by link index, the IPv4 addresses other than /32s
	// (ENIs) of the bridges as one dump of the namespace found them
	// (bridgeNets); each entry is used once. Guarded by opMu.
	bridgeAddrs map[int][]netlink.Addr
	spare       spareSockets
}

type nsHost struct {
	h  Host // zero except ID when loaded from a previous run
	ns netns.NsHandle
}

var (
	_ Topology = (*NetnsDriver)(nil)
	_ Sockets  = (*NetnsDriver)(nil)
	_ Overlay  = (*NetnsDriver)(nil)
)

// newNetnsDriver is New for the netns driver.
func newNetnsDriver(prefix string, log *slog.Logger) (Driver, error) {
	d, err := newNetns(prefix, log)
	if err != nil {
		return Driver{}, err
	}
	return Driver{Name: Netns, Topology: d, Sockets: d, Overlay: d}, nil
}

// newNetns returns the network-namespace driver. prefix names every
// namespace it creates: "<prefix>-<vpcID>" and "<prefix>-<hostID>". It
// fails when not root or when network namespaces are not available.
func newNetns(prefix string, log *slog.Logger) (*NetnsDriver, error) {
	if !prefixRE.MatchString(prefix) {
		return nil, fmt.Errorf("netdrv: invalid prefix %q", prefix)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("netdrv: the netns driver needs root (use the loopback driver instead)")
	}
	runtime.LockOSThread()
	origin, err := netns.Get()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("netdrv: no network namespace support: %w", err)
	}
	if err := nsfs.EnsureRunDir(); err != nil {
		origin.Close()
		return nil, fmt.Errorf("netdrv: %w", err)
	}
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		ipPath = "/usr/sbin/ip"
		log.Warn("netdrv: `ip` not found in PATH; ExecCommand will use " + ipPath)
	}
	return &NetnsDriver{
		prefix: prefix,
		log:    log.With("driver", "netns", "prefix", prefix),
		origin: origin,
		ipPath: ipPath,
		vpcs:   map[string]*nsVPC{},
		hosts:  map[string]*nsHost{},
	}, nil
}

// Prefix returns the namespace name prefix.
func (d *NetnsDriver) Prefix() string { return d.prefix }

func (d *NetnsDriver) nsName(id string) string { return d.prefix + "-" + id }

// VPCNamespace returns the name of the VPC's namespace (usable with
// `ip -n`), or, for an adopted VPC, the path it was adopted from.
func (d *NetnsDriver) VPCNamespace(vpcID string) string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if v := d.vpcs[vpcID]; v != nil && v.adopted {
		return v.path
	}
	return d.nsName(vpcID)
}

// HostNamespace implements Sockets.
func (d *NetnsDriver) HostNamespace(hostID string) string { return d.nsName(hostID) }

// MapAddr implements Sockets: VPC addresses are used as they are.
func (d *NetnsDriver) MapAddr(vpcID string, a netip.Addr) netip.Addr { return a }

// UnmapAddr implements Sockets: sockets see VPC addresses as they are.
func (d *NetnsDriver) UnmapAddr(vpcID string, a netip.Addr) netip.Addr { return a }

// ResolverAddr implements Sockets.
func (d *NetnsDriver) ResolverAddr(vpcID string) netip.AddrPort {
	return netip.AddrPortFrom(ResolverIP, ResolverPort)
}

// ExecCommand implements Sockets.
func (d *NetnsDriver) ExecCommand(ctx context.Context, hostID string, argv []string) *exec.Cmd {
	args := append([]string{"netns", "exec", d.nsName(hostID)}, argv...)
	return exec.CommandContext(ctx, d.ipPath, args...)
}

// ---------------------------------------------------------------- VPCs

// HasVPC implements Sockets: the VPC's namespace was created or adopted by
// this driver, or a namespace "<prefix>-<vpcID>" exists (made by another
// process with the same prefix, or left by a previous run). It waits for a
// VPC operation in progress, so a VPC being created is reported once it is
// set up (resolver address on lo).
func (d *NetnsDriver) HasVPC(vpcID string) bool {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	_, err := d.loadVPC(vpcID)
	return err == nil
}

// loadVPC returns the VPC, opening its named namespace left by a previous
// run if needed. Caller holds opMu.
func (d *NetnsDriver) loadVPC(vpcID string) (*nsVPC, error) {
	d.mu.RLock()
	v := d.vpcs[vpcID]
	d.mu.RUnlock()
	if v != nil {
		return v, nil
	}
	if err := checkID("vpc", vpcID); err != nil {
		return nil, err
	}
	name := d.nsName(vpcID)
	h, err := d.openNamed(name)
	if err != nil {
		return nil, fmt.Errorf("netdrv: open VPC namespace %s: %w", name, err)
	}
	if !h.IsOpen() {
		return nil, fmt.Errorf("%w: vpc %s", ErrNotFound, vpcID)
	}
	v, err = d.addVPC(vpcID, nsfs.Path(name), h, false)
	if err != nil {
		return nil, err
	}
	if vx, err := d.vxlan(v); err == nil && vx != nil { // made by a previous run
		v.vni = vx.VxlanId
	}
	return v, nil
}

func (d *NetnsDriver) addVPC(vpcID, path string, h netns.NsHandle, adopted bool) (*nsVPC, error) {
	nlh, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netdrv: netlink in %s: %w", path, err)
	}
	v := &nsVPC{id: vpcID, path: path, adopted: adopted, ns: h, nl: nlh}
	d.mu.Lock()
	d.vpcs[vpcID] = v
	d.mu.Unlock()
	return v, nil
}

func (d *NetnsDriver) dropVPC(v *nsVPC) {
	d.mu.Lock()
	delete(d.vpcs, v.id)
	d.mu.Unlock()
	v.spare.close()
	v.nl.Close()
	v.ns.Close()
}

// EnsureVPC implements Topology.
func (d *NetnsDriver) EnsureVPC(vpcID string) error {
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	d.opMu.Lock()
	defer d.opMu.Unlock()
	v, err := d.loadVPC(vpcID)
	if errors.Is(err, ErrNotFound) {
		name := d.nsName(vpcID)
		h, cerr := nsfs.Create(d.origin, name)
		if cerr != nil {
			return fmt.Errorf("netdrv: create VPC namespace %s: %w", name, cerr)
		}
		if v, err = d.addVPC(vpcID, nsfs.Path(name), h, false); err != nil {
			nsfs.Delete(name) //nolint:errcheck
			return err
		}
		d.log.Info("created VPC namespace", "vpc", vpcID, "netns", name)
	} else if err != nil {
		return err
	}
	return d.configureVPC(v)
}

// AdoptVPC implements Topology. nsPath is any namespace file, e.g.
// /proc/<pid>/ns/net or /run/netns/foo. The host's own namespace is refused.
func (d *NetnsDriver) AdoptVPC(vpcID, nsPath string) error {
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	d.opMu.Lock()
	defer d.opMu.Unlock()
	h, err := nsfs.Open(nsPath)
	if err != nil {
		return fmt.Errorf("netdrv: adopt %s: %w", nsPath, err)
	}
	if h.Equal(d.origin) {
		h.Close()
		return fmt.Errorf("netdrv: refusing to adopt the host's own network namespace (%s)", nsPath)
	}
	d.mu.RLock()
	v := d.vpcs[vpcID]
	d.mu.RUnlock()
	if v == nil {
		if own, _ := d.openNamed(d.nsName(vpcID)); own.IsOpen() {
			own.Close()
			v, err = d.loadVPC(vpcID)
			if err != nil {
				h.Close()
				return err
			}
		}
	}
	if v != nil {
		same := v.adopted && v.ns.Equal(h)
		h.Close()
		if !same {
			return fmt.Errorf("netdrv: VPC %s already uses namespace %s", vpcID, v.path)
		}
		return d.configureVPC(v)
	}
	if v, err = d.addVPC(vpcID, nsPath, h, true); err != nil {
		return err
	}
	d.log.Info("adopted VPC namespace", "vpc", vpcID, "path", nsPath)
	return d.configureVPC(v)
}

// configureVPC brings lo up, adds the resolver address and enables
// forwarding. Idempotent.
func (d *NetnsDriver) configureVPC(v *nsVPC) error {
	lo, err := v.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netdrv: vpc %s: lo: %w", v.id, err)
	}
	if err := v.nl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("netdrv: vpc %s: lo up: %w", v.id, err)
	}
	addrs, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(lo, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("netdrv: vpc %s: list lo addresses: %w", v.id, err)
	}
	if findAddr(addrs, ResolverIP, 32) == nil {
		a := &netlink.Addr{IPNet: ipNet(ResolverIP, 32), Label: resolverLabel}
		if err := v.nl.AddrAdd(lo, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("netdrv: vpc %s: add resolver address: %w", v.id, err)
		}
	}
	prev, err := nsfs.Sysctl(d.origin, v.ns, "net.ipv4.ip_forward", "1")
	if err != nil {
		return fmt.Errorf("netdrv: vpc %s: ip_forward: %w", v.id, err)
	}
	if v.adopted && prev != "1" && v.prevForward == "" {
		v.prevForward = prev
	}
	return nil
}

// DeleteVPC implements Topology. It deletes the VPC's hosts known to this
// driver, every link we created in the VPC namespace, and the namespace
// itself unless it was adopted.
func (d *NetnsDriver) DeleteVPC(vpcID string) error {
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	d.opMu.Lock()
	defer d.opMu.Unlock()
	return d.deleteVPC(vpcID)
}

func (d *NetnsDriver) deleteVPC(vpcID string) error {
	var errs []error
	for _, id := range d.hostIDs(func(h Host) bool { return h.VpcID == vpcID }) {
		errs = append(errs, d.deleteHost(id))
	}
	v, err := d.loadVPC(vpcID)
	if errors.Is(err, ErrNotFound) {
		return errors.Join(errs...)
	} else if err != nil {
		return errors.Join(append(errs, err)...)
	}
	errs = append(errs, d.removeOwnLinks(v))
	if v.adopted {
		if lo, err := v.nl.LinkByName("lo"); err == nil {
			addrs, _ := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(lo, netlink.FAMILY_V4) })
			if a := findAddr(addrs, ResolverIP, 32); a != nil && a.Label == resolverLabel {
				errs = append(errs, v.nl.AddrDel(lo, a))
			}
		}
		if v.prevForward != "" {
			_, err := nsfs.Sysctl(d.origin, v.ns, "net.ipv4.ip_forward", v.prevForward)
			errs = append(errs, err)
		}
	}
	d.dropVPC(v)
	if !v.adopted {
		errs = append(errs, nsfs.Delete(d.nsName(vpcID)))
	}
	d.log.Info("deleted VPC", "vpc", vpcID, "adopted", v.adopted)
	return errors.Join(errs...)
}

// removeOwnLinks deletes every link carrying our alias mark (bridges and
// host veth ends).
func (d *NetnsDriver) removeOwnLinks(v *nsVPC) error {
	links, err := nsfs.RetryDump(v.nl.LinkList)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Alias, aliasMark) {
			if err := v.nl.LinkDel(l); err != nil && !nsfs.IsLinkNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// -------------------------------------------------------------- cleanup

// Cleanup implements Topology. Adopted VPCs known to this driver get what we
// added removed; every /run/netns/<prefix>-<id> and /etc/netns/<prefix>-<id>
// is deleted.
func (d *NetnsDriver) Cleanup() error {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	var errs []error
	for _, id := range d.hostIDs(func(Host) bool { return true }) {
		errs = append(errs, d.deleteHost(id))
	}
	d.mu.RLock()
	var vpcIDs []string
	for id := range d.vpcs {
		vpcIDs = append(vpcIDs, id)
	}
	d.mu.RUnlock()
	for _, id := range vpcIDs {
		errs = append(errs, d.deleteVPC(id))
	}
	errs = append(errs, d.removeUnderlayFilter())
	names, err := nsfs.List()
	errs = append(errs, err)
	for _, n := range names {
		if d.ours(n) {
			errs = append(errs, nsfs.Teardown(n))
		}
	}
	if ents, err := os.ReadDir(nsfs.EtcDir); err == nil {
		for _, e := range ents {
			if d.ours(e.Name()) {
				errs = append(errs, os.RemoveAll(filepath.Join(nsfs.EtcDir, e.Name())))
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netdrv: cleanup: %w", err)
	}
	return nil
}

// openNamed is nsfs.OpenNamed that logs a repaired leftover.
func (d *NetnsDriver) openNamed(name string) (netns.NsHandle, error) {
	h, repaired, err := nsfs.OpenNamed(name)
	if repaired {
		d.log.Warn("removed an unmounted namespace file left by a crash", "netns", name)
	}
	return h, err
}

// ours reports whether a namespace name is "<prefix>-<id>".
func (d *NetnsDriver) ours(name string) bool {
	rest, ok := strings.CutPrefix(name, d.prefix+"-")
	return ok && idRE.MatchString(rest)
}

// Close releases cached namespace handles without deleting anything.
func (d *NetnsDriver) Close() error {
	d.opMu.Lock()
	defer d.opMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, v := range d.vpcs {
		v.spare.close()
		v.nl.Close()
		v.ns.Close()
		delete(d.vpcs, id)
	}
	for id, h := range d.hosts {
		h.ns.Close()
		delete(d.hosts, id)
	}
	d.node.close()
	d.node = nil
	return nil
}

// ------------------------------------------------------------ helpers

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, a.BitLen())}
}

func addrOf(a netlink.Addr) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.IP)
	return ip.Unmap()
}

func findAddr(addrs []netlink.Addr, ip netip.Addr, bits int) *netlink.Addr {
	for i := range addrs {
		if ones, _ := addrs[i].Mask.Size(); addrOf(addrs[i]) == ip && ones == bits {
			return &addrs[i]
		}
	}
	return nil
}
