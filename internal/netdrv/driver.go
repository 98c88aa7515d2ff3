package netdrv

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// Network names a driver (the --network flag).
const (
	Netns    = "netns"
	Loopback = "loopback"
)

// Driver is one network driver in its two roles. Both roles are the same
// object; they are apart so that each user holds only what it may do.
type Driver struct {
	Name     string   // Netns or Loopback
	Topology Topology // VPCs, vSwitches, hosts, ENIs: written by the zone agent only
	Sockets  Sockets  // sockets inside them: the proxy, the resolver, tests and demos
	Overlay  Overlay  // VXLAN overlay joining VPC copies across nodes: the node agent only
}

// New returns the driver named by network. prefix names the netns driver's
// namespaces ("<prefix>-<id>"; lowercase letters, digits, dashes, at most 32
// chars); the netns driver needs Linux and root. The loopback driver logs a
// loud warning: it isolates nothing.
func New(network, prefix string, log *slog.Logger) (Driver, error) {
	if log == nil {
		log = slog.Default()
	}
	switch network {
	case Netns:
		return newNetnsDriver(prefix, log)
	case Loopback:
		l := newLoopback(log)
		return Driver{Name: Loopback, Topology: l, Sockets: l, Overlay: l}, nil
	default:
		return Driver{}, fmt.Errorf("netdrv: unknown network %q (netns or loopback)", network)
	}
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
