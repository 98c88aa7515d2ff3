package netdrv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
)

// Host describes an ECS-like host attached to a vSwitch.
type Host struct {
	ID, VpcID, VSwitchID string
	IP                   netip.Addr
	Prefix               netip.Prefix // vSwitch CIDR
	Gateway              netip.Addr
}

// Driver realises VPCs, vSwitches, hosts and ENIs on this machine and opens
// sockets inside them.
type Driver interface {
	Name() string                        // "netns" or "loopback"
	EnsureVPC(vpcID string) error        // idempotent
	DeleteVPC(vpcID string) error        // idempotent; removes everything inside
	AdoptVPC(vpcID, nsPath string) error // use an existing namespace as this VPC's router; never delete an adopted ns, only what we added in it
	EnsureVSwitch(vpcID, vswID string, cidr netip.Prefix, gw netip.Addr) error
	DeleteVSwitch(vpcID, vswID string) error
	EnsureHost(h Host) error
	DeleteHost(hostID string) error
	AddENI(vpcID, vswID string, ip netip.Addr) error    // idempotent
	RemoveENI(vpcID, vswID string, ip netip.Addr) error // idempotent
	// Listen/ListenPacket open sockets INSIDE the VPC namespace. vpcID "" = host network.
	Listen(vpcID string, addr netip.AddrPort) (net.Listener, error)
	ListenPacket(vpcID string, addr netip.AddrPort) (net.PacketConn, error)
	// Dial from inside the VPC namespace (vpcID "" = host network).
	Dial(ctx context.Context, vpcID string, addr netip.AddrPort) (net.Conn, error)
	// Socket creates a non-blocking TCP socket inside the VPC namespace
	// (vpcID "" = host network) for dialing addr and returns it with the
	// address to connect it to (addr mapped as by MapAddr). The caller owns
	// fd. The proxy's event loops dial backends this way.
	Socket(vpcID string, addr netip.AddrPort) (fd int, to netip.AddrPort, err error)
	// MapAddr returns the address where a VPC-internal address is actually
	// reachable from this machine's sockets (identity for netns; a
	// 127.x.y.z mapping for loopback).
	MapAddr(vpcID string, a netip.Addr) netip.Addr
	ResolverAddr(vpcID string) netip.AddrPort // 169.254.169.253:53 for netns
	HostNamespace(hostID string) string       // name usable with `ip netns exec` ("" for loopback)
	// ExecCommand returns a command that runs argv inside the host's
	// namespace (via `ip netns exec <ns>`, which also bind-mounts the
	// resolv.conf). The loopback driver runs argv directly.
	ExecCommand(ctx context.Context, hostID string, argv []string) *exec.Cmd
	// Cleanup deletes every namespace and /etc/netns dir with this
	// driver's prefix (used by tests, demo, and server --cleanup).
	Cleanup() error
}

// HostSockets is implemented by both drivers: sockets opened "inside" a
// host (ECS) rather than inside the VPC router. Tests and demos use it to
// play the role of a workload running on the host.
type HostSockets interface {
	ListenHost(hostID string, addr netip.AddrPort) (net.Listener, error)
	ListenPacketHost(hostID string, addr netip.AddrPort) (net.PacketConn, error)
	DialHost(ctx context.Context, hostID string, addr netip.AddrPort) (net.Conn, error)
}

// ResolverIP is the VPC DNS resolver address (on lo of every VPC namespace).
var ResolverIP = netip.MustParseAddr("169.254.169.253")

// ResolverPort is the resolver port in netns mode.
const ResolverPort = 53

// LoopbackResolverPort is the resolver port in loopback mode: unprivileged,
// and not 53/5353 so it clashes neither with systemd-resolved
// (127.0.0.53:53, 127.0.0.54:53) nor with mDNS (5353).
const LoopbackResolverPort = 10053

// ErrNotFound is wrapped by errors about unknown VPCs, vSwitches and hosts.
var ErrNotFound = errors.New("netdrv: not found")

// idRE is what VPC, vSwitch and host IDs must look like ("vpc-xxxx",
// "vsw-xxxx", "i-xxxx"). Exactly one dash: Cleanup relies on it to tell
// "<prefix>-<id>" of this driver from the names of a driver whose prefix
// merely starts with ours.
var idRE = regexp.MustCompile(`^[a-z][a-z0-9]*-[a-z0-9]+$`)

const maxIDLen = 64

func checkID(kind, id string) error {
	if len(id) > maxIDLen || !idRE.MatchString(id) {
		return fmt.Errorf("netdrv: invalid %s ID %q (want e.g. %s-<lowercase base32>)", kind, id, kind)
	}
	return nil
}

func lastN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// BridgeName is the Linux bridge name of a vSwitch inside its VPC namespace.
func BridgeName(vswID string) string { return "br-" + lastN(vswID, 8) }

// hostVethName is the VPC-side veth end of a host (15 chars max).
func hostVethName(hostID string) string { return "vh-" + lastN(hostID, 12) }

func checkVSwitch(cidr netip.Prefix, gw netip.Addr) error {
	if !cidr.IsValid() || !cidr.Addr().Is4() || cidr != cidr.Masked() || cidr.Bits() > 30 {
		return fmt.Errorf("netdrv: invalid vSwitch CIDR %s (want masked IPv4, /30 or larger)", cidr)
	}
	if !gw.Is4() || !cidr.Contains(gw) || gw == cidr.Addr() {
		return fmt.Errorf("netdrv: gateway %s not a host address of %s", gw, cidr)
	}
	return nil
}

func checkHost(h Host) error {
	if err := checkID("host", h.ID); err != nil {
		return err
	}
	if err := checkID("vpc", h.VpcID); err != nil {
		return err
	}
	if err := checkID("vswitch", h.VSwitchID); err != nil {
		return err
	}
	if err := checkVSwitch(h.Prefix, h.Gateway); err != nil {
		return err
	}
	if !h.IP.Is4() || !h.Prefix.Contains(h.IP) || h.IP == h.Prefix.Addr() || h.IP == h.Gateway {
		return fmt.Errorf("netdrv: host IP %s invalid in %s (gateway %s)", h.IP, h.Prefix, h.Gateway)
	}
	return nil
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
