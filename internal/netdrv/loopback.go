package netdrv

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"sync"
)

// LoopbackDriver is the no-root, NO-ISOLATION driver: every VPC lives on the
// machine's loopback. A VPC address a.b.c.d is mapped to 127.b.c.d, so VPCs
// (or vSwitches of one VPC) whose CIDRs differ only in the first octet, or
// overlap, COLLIDE: 192.168.0.10 in VPC A and in VPC B are both
// 127.168.0.10. Ensure*/Delete*/ENI calls only keep books (and warn about
// collisions). Meant for development and CI without root.
type LoopbackDriver struct {
	log *slog.Logger

	mu    sync.Mutex
	vpcs  map[string]map[string]netip.Prefix // vpcID -> vswID -> CIDR
	hosts map[string]Host
	enis  map[string]map[netip.Addr]string // vpcID -> ip -> vswID
}

var (
	_ Topology = (*LoopbackDriver)(nil)
	_ Sockets  = (*LoopbackDriver)(nil)
	_ Overlay  = (*LoopbackDriver)(nil)
)

// newLoopback returns the loopback driver and logs a loud warning.
func newLoopback(log *slog.Logger) *LoopbackDriver {
	log = log.With("driver", "loopback")
	log.Warn("netdrv: LOOPBACK DRIVER: NO NETWORK ISOLATION. VPCs are not isolated from each other or from the host; " +
		"VPC address a.b.c.d is served at 127.b.c.d, so overlapping VPC CIDRs collide. Use the netns driver (root) for real isolation.")
	return &LoopbackDriver{
		log:   log,
		vpcs:  map[string]map[string]netip.Prefix{},
		hosts: map[string]Host{},
		enis:  map[string]map[netip.Addr]string{},
	}
}

// EnsureVPC implements Topology (bookkeeping only).
func (l *LoopbackDriver) EnsureVPC(vpcID string) error {
	if err := checkID("vpc", vpcID); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.vpcs[vpcID] == nil {
		l.vpcs[vpcID] = map[string]netip.Prefix{}
	}
	return nil
}

// HasVPC implements Sockets: the VPC was ensured (or adopted).
func (l *LoopbackDriver) HasVPC(vpcID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.vpcs[vpcID] != nil
}

// AdoptVPC implements Topology: the path is ignored (there are no namespaces).
func (l *LoopbackDriver) AdoptVPC(vpcID, nsPath string) error {
	l.log.Warn("netdrv: loopback driver cannot adopt a namespace; treating as EnsureVPC", "vpc", vpcID, "path", nsPath)
	return l.EnsureVPC(vpcID)
}

// DeleteVPC implements Topology.
func (l *LoopbackDriver) DeleteVPC(vpcID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.vpcs, vpcID)
	delete(l.enis, vpcID)
	for id, h := range l.hosts {
		if h.VpcID == vpcID {
			delete(l.hosts, id)
		}
	}
	return nil
}

// mappedPrefix is where a VPC CIDR lands on the loopback.
func mappedPrefix(p netip.Prefix) netip.Prefix {
	if p.Bits() < 8 {
		return netip.MustParsePrefix("127.0.0.0/8")
	}
	return netip.PrefixFrom(mapAddr(p.Addr()), p.Bits()).Masked()
}

// EnsureVSwitch implements Topology (bookkeeping; warns on loopback collisions).
func (l *LoopbackDriver) EnsureVSwitch(vpcID, vswID string, cidr netip.Prefix, gw netip.Addr) error {
	if err := checkID("vswitch", vswID); err != nil {
		return err
	}
	if err := checkVSwitch(cidr, gw); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	vsws := l.vpcs[vpcID]
	if vsws == nil {
		return fmt.Errorf("%w: vpc %s", ErrNotFound, vpcID)
	}
	if old, ok := vsws[vswID]; ok && old == cidr {
		return nil
	}
	m := mappedPrefix(cidr)
	for ovpc, ovsws := range l.vpcs {
		for ovsw, ocidr := range ovsws {
			if ovsw != vswID && mappedPrefix(ocidr).Overlaps(m) {
				l.log.Warn("netdrv: loopback address collision: vSwitches share 127.x addresses",
					"vswitch", vswID, "vpc", vpcID, "cidr", cidr, "other_vswitch", ovsw, "other_vpc", ovpc, "other_cidr", ocidr, "loopback", m)
			}
		}
	}
	vsws[vswID] = cidr
	return nil
}

// DeleteVSwitch implements Topology.
func (l *LoopbackDriver) DeleteVSwitch(vpcID, vswID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if vsws := l.vpcs[vpcID]; vsws != nil {
		delete(vsws, vswID)
	}
	for ip, vsw := range l.enis[vpcID] {
		if vsw == vswID {
			delete(l.enis[vpcID], ip)
		}
	}
	for id, h := range l.hosts {
		if h.VpcID == vpcID && h.VSwitchID == vswID {
			delete(l.hosts, id)
		}
	}
	return nil
}

// EnsureHost implements Topology (bookkeeping only).
func (l *LoopbackDriver) EnsureHost(h Host) error {
	if err := checkHost(h); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.vpcs[h.VpcID][h.VSwitchID]; !ok {
		return fmt.Errorf("%w: vswitch %s in vpc %s", ErrNotFound, h.VSwitchID, h.VpcID)
	}
	l.hosts[h.ID] = h
	return nil
}

// HasHost implements Sockets: the host was ensured.
func (l *LoopbackDriver) HasHost(hostID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.hosts[hostID]
	return ok
}

// DeleteHost implements Topology.
func (l *LoopbackDriver) DeleteHost(hostID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.hosts, hostID)
	return nil
}

// AddENI implements Topology (bookkeeping only: any 127.x address is bindable).
func (l *LoopbackDriver) AddENI(vpcID, vswID string, ip netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cidr, ok := l.vpcs[vpcID][vswID]
	if !ok {
		return fmt.Errorf("%w: vswitch %s in vpc %s", ErrNotFound, vswID, vpcID)
	}
	if !cidr.Contains(ip.Unmap()) {
		return fmt.Errorf("netdrv: ENI %s not in vSwitch %s (%s)", ip, vswID, cidr)
	}
	if l.enis[vpcID] == nil {
		l.enis[vpcID] = map[netip.Addr]string{}
	}
	l.enis[vpcID][ip.Unmap()] = vswID
	return nil
}

// RemoveENI implements Topology.
func (l *LoopbackDriver) RemoveENI(vpcID, vswID string, ip netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.enis[vpcID], ip.Unmap())
	return nil
}

// mapAddr maps an IPv4 a.b.c.d to 127.b.c.d (127.x stays as it is). The
// unspecified address maps to 127.0.0.1 so that "listen on any VPC address"
// never exposes a socket on the machine's real interfaces. IPv6 addresses
// are returned unchanged.
func mapAddr(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if !a.Is4() {
		return a
	}
	if a.IsUnspecified() {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	b := a.As4()
	b[0] = 127
	return netip.AddrFrom4(b)
}

// MapAddr implements Sockets: a.b.c.d -> 127.b.c.d; vpcID "" (host network)
// is not mapped.
func (l *LoopbackDriver) MapAddr(vpcID string, a netip.Addr) netip.Addr {
	if vpcID == "" {
		return a
	}
	return mapAddr(a)
}

func (l *LoopbackDriver) mapAP(vpcID string, ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(l.MapAddr(vpcID, ap.Addr()), ap.Port())
}

// ResolverAddr implements Sockets: each VPC's resolver gets its own address
// 127.254.x.y (x.y from a hash of the VPC ID) on the unprivileged port 10053
// (LoopbackResolverPort), so per-VPC DNS views work without namespaces.
func (l *LoopbackDriver) ResolverAddr(vpcID string) netip.AddrPort {
	h := fnv.New32a()
	h.Write([]byte(vpcID))
	v := h.Sum32()
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 254, byte(v >> 8), byte(v)}), LoopbackResolverPort)
}

// HostNamespace implements Sockets: there are none.
func (l *LoopbackDriver) HostNamespace(hostID string) string { return "" }

// ExecCommand implements Sockets: argv runs directly on the machine.
func (l *LoopbackDriver) ExecCommand(ctx context.Context, hostID string, argv []string) *exec.Cmd {
	if len(argv) == 0 {
		argv = []string{"true"}
	}
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// Inventory implements Topology: nothing outlives the process.
func (l *LoopbackDriver) Inventory() (Inventory, error) { return Inventory{}, nil }

// Cleanup implements Topology: forgets everything.
func (l *LoopbackDriver) Cleanup() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.vpcs)
	clear(l.hosts)
	clear(l.enis)
	return nil
}

// Listen implements Sockets on the mapped address.
func (l *LoopbackDriver) Listen(vpcID string, addr netip.AddrPort) (net.Listener, error) {
	return listenTCP(l.mapAP(vpcID, addr))
}

// ListenMany implements Sockets: Listen for each address (nothing to
// enter on loopback).
func (l *LoopbackDriver) ListenMany(vpcID string, addrs []netip.AddrPort) ([]net.Listener, []error) {
	lns, errs := make([]net.Listener, len(addrs)), make([]error, len(addrs))
	for i, a := range addrs {
		lns[i], errs[i] = l.Listen(vpcID, a)
	}
	return lns, errs
}

// ListenPacket implements Sockets on the mapped address.
func (l *LoopbackDriver) ListenPacket(vpcID string, addr netip.AddrPort) (net.PacketConn, error) {
	return listenUDP(l.mapAP(vpcID, addr))
}

// ListenShared implements Sockets: each VPC's resolver has its own
// loopback address, so a plain listener.
func (l *LoopbackDriver) ListenShared(vpcID string, addr netip.AddrPort) (net.Listener, error) {
	return l.Listen(vpcID, addr)
}

// ListenPacketShared implements Sockets like ListenShared.
func (l *LoopbackDriver) ListenPacketShared(vpcID string, addr netip.AddrPort) (net.PacketConn, error) {
	return l.ListenPacket(vpcID, addr)
}

// Dial implements Sockets to the mapped address.
func (l *LoopbackDriver) Dial(ctx context.Context, vpcID string, addr netip.AddrPort) (net.Conn, error) {
	return dialTCP(ctx, l.mapAP(vpcID, addr))
}

// Socket implements Sockets for the mapped address.
func (l *LoopbackDriver) Socket(vpcID string, addr netip.AddrPort) (int, netip.AddrPort, error) {
	to := unmapAP(l.mapAP(vpcID, addr))
	fd, err := tcpSocket(to)
	return fd, to, err
}

func (l *LoopbackDriver) hostVPC(hostID string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.hosts[hostID]
	if !ok {
		return "", fmt.Errorf("%w: host %s", ErrNotFound, hostID)
	}
	return h.VpcID, nil
}

// ListenHost implements Sockets: a listener on the host's mapped address.
func (l *LoopbackDriver) ListenHost(hostID string, addr netip.AddrPort) (net.Listener, error) {
	vpc, err := l.hostVPC(hostID)
	if err != nil {
		return nil, err
	}
	return l.Listen(vpc, addr)
}

// ListenPacketHost implements Sockets.
func (l *LoopbackDriver) ListenPacketHost(hostID string, addr netip.AddrPort) (net.PacketConn, error) {
	vpc, err := l.hostVPC(hostID)
	if err != nil {
		return nil, err
	}
	return l.ListenPacket(vpc, addr)
}

// DialHost implements Sockets.
func (l *LoopbackDriver) DialHost(ctx context.Context, hostID string, addr netip.AddrPort) (net.Conn, error) {
	l.mu.Lock()
	h, ok := l.hosts[hostID]
	l.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: host %s", ErrNotFound, hostID)
	}
	// Speak from the host's mapped address, as the host would in its VPC.
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(mapAddr(h.IP), 0))}
	return d.DialContext(ctx, "tcp", l.mapAP(h.VpcID, addr).String())
}

// UnmapAddr implements Sockets, reversing MapAddr for a source address: a
// 127.b.c.d inside a mapped vSwitch of vpcID becomes that vSwitch's
// a.b.c.d, so security groups written for VPC CIDRs still apply. Other
// addresses are returned unchanged.
func (l *LoopbackDriver) UnmapAddr(vpcID string, a netip.Addr) netip.Addr {
	a = a.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, cidr := range l.vpcs[vpcID] {
		if mapped := netip.PrefixFrom(mapAddr(cidr.Addr()), cidr.Bits()); mapped.Contains(a) {
			b := a.As4()
			b[0] = cidr.Addr().As4()[0]
			return netip.AddrFrom4(b)
		}
	}
	return a
}

// The loopback driver has no overlay: everything is on one machine.

// SetNode implements Overlay: refused.
func (l *LoopbackDriver) SetNode(Node) error {
	return fmt.Errorf("%w: the loopback driver runs a single node (use the netns driver)", ErrNoOverlay)
}

// NodeConfig implements Overlay.
func (l *LoopbackDriver) NodeConfig() (Node, bool) { return Node{}, false }

// EnsureOverlay implements Overlay: refused.
func (l *LoopbackDriver) EnsureOverlay(string, int) error { return ErrNoOverlay }

// DeleteOverlay implements Overlay: nothing to delete.
func (l *LoopbackDriver) DeleteOverlay(string) error { return nil }

// SetOverlayEntries implements Overlay: refused.
func (l *LoopbackDriver) SetOverlayEntries(string, Entries) error { return ErrNoOverlay }

// AnnounceENI implements Overlay: refused.
func (l *LoopbackDriver) AnnounceENI(string, string, netip.Addr) error { return ErrNoOverlay }

// SetUnderlayPeers implements Overlay: refused.
func (l *LoopbackDriver) SetUnderlayPeers([]netip.Addr) error { return ErrNoOverlay }
