package netdrv

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
)

// Sockets is a driver's data-plane role: sockets (and commands) inside the
// VPCs and hosts that the Topology role built. The proxy and the resolver
// use it; it never creates or removes a namespace.
type Sockets interface {
	// HasVPC reports whether the VPC's namespace exists and is set up
	// (created or adopted by a zone agent), so sockets can be opened in it.
	HasVPC(vpcID string) bool

	// Listen and ListenPacket open sockets inside the VPC's namespace
	// (vpcID "" = the machine's network).
	Listen(vpcID string, addr netip.AddrPort) (net.Listener, error)
	ListenPacket(vpcID string, addr netip.AddrPort) (net.PacketConn, error)
	// ListenMany is Listen for many addresses of one VPC at once: the
	// netns driver enters the namespace once for the whole batch (one
	// setns pair instead of one per listener). lns[i] and errs[i] belong
	// to addrs[i]; exactly one of them is set. One address failing (in
	// use, not on the VPC) fails only its own entry.
	ListenMany(vpcID string, addrs []netip.AddrPort) (lns []net.Listener, errs []error)
	// ListenShared and ListenPacketShared are Listen and ListenPacket for
	// resolver sockets: several processes on one machine (the server's
	// resolver and standalone agents) may bind the same address
	// (netns: SO_REUSEPORT; loopback: plain sockets).
	ListenShared(vpcID string, addr netip.AddrPort) (net.Listener, error)
	ListenPacketShared(vpcID string, addr netip.AddrPort) (net.PacketConn, error)
	// Dial connects (TCP) from inside the VPC's namespace.
	Dial(ctx context.Context, vpcID string, addr netip.AddrPort) (net.Conn, error)
	// Socket creates a non-blocking TCP socket inside the VPC's namespace
	// for dialing addr and returns it with the address to connect it to
	// (addr mapped as by MapAddr). The caller owns fd. The proxy's event
	// loops dial backends this way.
	Socket(vpcID string, addr netip.AddrPort) (fd int, to netip.AddrPort, err error)

	// MapAddr returns the address where a VPC-internal address is actually
	// reachable from this machine's sockets (identity for netns; a
	// 127.x.y.z mapping for loopback). UnmapAddr reverses it for a source
	// address a socket of the VPC saw, so security groups written for VPC
	// CIDRs apply.
	MapAddr(vpcID string, a netip.Addr) netip.Addr
	UnmapAddr(vpcID string, a netip.Addr) netip.Addr
	// ResolverAddr is where the VPC's DNS resolver is served
	// (169.254.169.253:53 for netns).
	ResolverAddr(vpcID string) netip.AddrPort

	// Sockets and commands as seen from a host (ECS): tests and demos use
	// them to play the workload running on the host. HasHost reports
	// whether the host's namespace exists and is set up.
	HasHost(hostID string) bool
	ListenHost(hostID string, addr netip.AddrPort) (net.Listener, error)
	ListenPacketHost(hostID string, addr netip.AddrPort) (net.PacketConn, error)
	DialHost(ctx context.Context, hostID string, addr netip.AddrPort) (net.Conn, error)
	// HostNamespace is the host's namespace name, usable with
	// `ip netns exec` ("" for loopback).
	HostNamespace(hostID string) string
	// ExecCommand returns a command that runs argv inside the host's
	// namespace (via `ip netns exec <ns>`, which also bind-mounts the
	// resolv.conf). The loopback driver runs argv directly.
	ExecCommand(ctx context.Context, hostID string, argv []string) *exec.Cmd
}

func tcpNet(a netip.Addr) string {
	if a.Is4() {
		return "tcp4"
	}
	return "tcp6"
}

func udpNet(a netip.Addr) string {
	if a.Is4() {
		return "udp4"
	}
	return "udp6"
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// listenTCP, listenUDP and dialTCP create sockets in the calling thread's
// network namespace.
func listenTCP(addr netip.AddrPort) (net.Listener, error) {
	addr = unmapAP(addr)
	// KeepAlive -1: proxy listeners set keepalive on the listening socket,
	// which accepted sockets inherit, saving four setsockopts per accept.
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(context.Background(), tcpNet(addr.Addr()), addr.String())
}

func listenUDP(addr netip.AddrPort) (net.PacketConn, error) {
	addr = unmapAP(addr)
	return net.ListenPacket(udpNet(addr.Addr()), addr.String())
}

func dialTCP(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	addr = unmapAP(addr)
	var d net.Dialer
	return d.DialContext(ctx, tcpNet(addr.Addr()), addr.String())
}
