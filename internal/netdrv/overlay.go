package netdrv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Overlay is a driver's node role in a region that spans machines
// (docs/design/multinode.md §3): it joins this node's copy of a VPC to the
// copies on other nodes through one kernel VXLAN device per VPC copy, and
// programs the forwarding entries the agent computed from the store. No
// learning and no flooding: only what SetOverlayEntries lists crosses. It
// has one writer, the node agent; every call is idempotent. A node that is
// never configured (SetNode) builds no overlay: single-machine behaviour.
type Overlay interface {
	// SetNode configures this node (underlay address, index, VPC MTU).
	// It must be called before the other methods. Calling it again with
	// another VPC MTU is fine (EnsureOverlay and EnsureHost apply it);
	// another namespace, address or index is refused while VPC overlays
	// exist.
	SetNode(n Node) error
	// NodeConfig returns the configuration in effect (ok false before SetNode).
	NodeConfig() (n Node, ok bool)
	// EnsureOverlay gives the VPC's copy (EnsureVPC first) its VXLAN
	// device with vni, the node's overlay address on it, the anycast
	// gateway MAC and proxy ARP on every vSwitch bridge, and the VPC MTU on
	// every VPC link. A device with another VNI is replaced.
	EnsureOverlay(vpcID string, vni int) error
	// DeleteOverlay removes the VPC copy's VXLAN device (and with it every
	// forwarding entry); bridges get their single-node MAC back.
	DeleteOverlay(vpcID string) error
	// SetOverlayEntries makes the VPC copy's forwarding entries exactly e
	// (dump, diff, apply): an FDB entry per peer node and, per remote
	// address, a permanent neighbour entry and a /32 (IPv6: /128) route on
	// the VXLAN device; with e.IPv6 also the node's IPv6 overlay address
	// and proxy NDP for the remote IPv6 addresses.
	SetOverlayEntries(vpcID string, e Entries) error
	// AnnounceENI sends a gratuitous ARP for an ENI address held on the
	// vSwitch's bridge (after the ENI moved to this node).
	AnnounceENI(vpcID, vswID string, ip netip.Addr) error
	// SetUnderlayPeers restricts VXLAN (UDP 4789) arriving in the node
	// namespace to the given peer underlay addresses (nftables table
	// "privlink-underlay"; nil peers drops all VXLAN).
	SetUnderlayPeers(peers []netip.Addr) error
}

// Node is this machine (or, in the lab, this node namespace) as a node of
// a region: where its VXLAN sockets live and what it is called on the
// underlay.
type Node struct {
	// Namespace is the node namespace file ("/run/netns/…",
	// "/proc/<pid>/ns/net"); "" is the process's own namespace (a real
	// machine, or an agent started inside a lab node namespace).
	Namespace string
	// UnderlayAddr is the node's IPv4 address on the underlay (the VTEP
	// source address; IPv6 underlays are not supported).
	UnderlayAddr netip.Addr
	// UnderlayIndex is the index of the link holding UnderlayAddr in the
	// node namespace; 0 = look it up.
	UnderlayIndex int
	// Index is the node's index (store key nodeidx/<index>), 1..32767;
	// it gives the node's overlay address (OverlayAddr).
	Index int
	// VPCMTU is the MTU of every VPC link (VXLAN device, bridges, host
	// veths); 0 = the underlay link's MTU minus VXLANOverhead.
	VPCMTU int
}

// Entries are the forwarding entries of one VPC copy.
type Entries struct {
	// Peers are the other nodes holding the VPC: one FDB entry each.
	Peers []Peer
	// Remote maps each address of the VPC placed on another node (hosts,
	// ENIs, the other nodes' overlay addresses) to that node's VTEP MAC,
	// which must be the MAC of one of Peers. IPv6 addresses (a /128 route,
	// an NDP neighbour entry and a proxy NDP entry each) only with IPv6.
	Remote map[netip.Addr]net.HardwareAddr
	// IPv6 marks the copy of a dual-stack VPC: the VXLAN device also
	// carries the node's IPv6 overlay address (OverlayAddr6) and the
	// router answers neighbour solicitations for the remote IPv6
	// addresses (proxy NDP, the IPv6 form of the bridges' proxy ARP).
	IPv6 bool `json:",omitempty"`
}

// Peer is another node holding a copy of the VPC.
type Peer struct {
	MAC      net.HardwareAddr // VTEPMAC(Underlay)
	Underlay netip.Addr
}

// OverlayRef names a VPC copy's VXLAN device (Inventory).
type OverlayRef struct {
	VpcID string
	VNI   int
}

// VXLAN constants of the overlay.
const (
	VXLANPort     = 4789 // IANA VXLAN port, one kernel socket per node namespace
	VXLANOverhead = 50   // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
	MaxVNI        = 1<<24 - 1
	MaxNodeIndex  = 32767
)

// OverlayPrefix holds the nodes' overlay addresses: 169.254.0.0/17, clear
// of the resolver at 169.254.169.253.
var OverlayPrefix = netip.MustParsePrefix("169.254.0.0/17")

// OverlayPrefix6 holds the nodes' IPv6 overlay addresses (OverlayAddr6):
// the discard-only prefix 100::/64 (RFC 6666). No VPC can hold it (VPC
// /56s lie in fc00::/7) and a packet that leaked out of a VPC namespace
// would be dropped anywhere, as 169.254/16 is never routed.
var OverlayPrefix6 = netip.MustParsePrefix("100::/64")

// ErrNoOverlay is returned by the overlay methods of a driver that has no
// overlay (loopback) or whose node is not configured.
var ErrNoOverlay = errors.New("netdrv: no overlay")

// VTEPMAC is a node's VXLAN device MAC, the same for every VPC copy of the
// node (a MAC need only be unique within one VNI): 02:00:<IPv4 underlay>.
func VTEPMAC(underlay netip.Addr) net.HardwareAddr {
	a := underlay.Unmap().As4()
	return net.HardwareAddr{0x02, 0x00, a[0], a[1], a[2], a[3]}
}

// GatewayMAC is the anycast MAC of a VPC's vSwitch bridges on every node
// (the distributed gateway): 02:01:00:<vni 24 bits>.
func GatewayMAC(vni int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x01, 0x00, byte(vni >> 16), byte(vni >> 8), byte(vni)}
}

// OverlayAddr is the node's address inside every VPC copy it holds:
// 169.254.<index>>8>.<index&255>. Invalid for an index outside 1..32767.
func OverlayAddr(index int) netip.Addr {
	if index < 1 || index > MaxNodeIndex {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte{169, 254, byte(index >> 8), byte(index)})
}

// OverlayAddr6 is the node's IPv6 address inside every dual-stack VPC
// copy it holds: 100::<index> (the source of what the router itself sends
// over the overlay, e.g. the proxy's dials to IPv6 backends on other
// nodes, whose replies must come back to this node and not to the
// anycast gateway ::1). Invalid for an index outside 1..32767.
func OverlayAddr6(index int) netip.Addr {
	if index < 1 || index > MaxNodeIndex {
		return netip.Addr{}
	}
	a := OverlayPrefix6.Addr().As16()
	a[14], a[15] = byte(index>>8), byte(index)
	return netip.AddrFrom16(a)
}

// VXLANName is the name of a VPC copy's VXLAN device.
func VXLANName(vpcID string) string {
	if len(vpcID) > 8 {
		return "vx-" + vpcID[len(vpcID)-8:]
	}
	return "vx-" + vpcID
}

// checkNode validates a node configuration (addresses and ranges; the
// links are checked by the driver).
func checkNode(n Node) error {
	switch {
	case !n.UnderlayAddr.Unmap().Is4():
		return fmt.Errorf("netdrv: node underlay address %v: want an IPv4 address", n.UnderlayAddr)
	case n.UnderlayAddr.Unmap().IsUnspecified() || n.UnderlayAddr.Unmap().IsMulticast():
		return fmt.Errorf("netdrv: node underlay address %v is not a unicast address", n.UnderlayAddr)
	case n.Index < 1 || n.Index > MaxNodeIndex:
		return fmt.Errorf("netdrv: node index %d out of range 1..%d", n.Index, MaxNodeIndex)
	case n.VPCMTU != 0 && (n.VPCMTU < 1280 || n.VPCMTU > 65535-VXLANOverhead):
		return fmt.Errorf("netdrv: VPC MTU %d out of range 1280..%d", n.VPCMTU, 65535-VXLANOverhead)
	case n.UnderlayIndex < 0:
		return fmt.Errorf("netdrv: underlay link index %d", n.UnderlayIndex)
	}
	return nil
}

// checkEntries validates forwarding entries: IPv4 unicast peers, IPv4
// (and, with e.IPv6, IPv6 global or unique-local) unicast remote
// addresses other than the node's own overlay addresses, 6-byte unicast
// MACs, every remote MAC one of a peer's, no duplicate peers.
func checkEntries(e Entries, index int) error {
	self, self6 := OverlayAddr(index), OverlayAddr6(index)
	macs := map[string]bool{}
	for _, p := range e.Peers {
		u := p.Underlay.Unmap()
		if !u.Is4() || u.IsUnspecified() || u.IsMulticast() {
			return fmt.Errorf("netdrv: peer underlay %v: want an IPv4 unicast address", p.Underlay)
		}
		if err := checkMAC(p.MAC); err != nil {
			return fmt.Errorf("netdrv: peer %v: %w", u, err)
		}
		if macs[p.MAC.String()] {
			return fmt.Errorf("netdrv: peer MAC %s listed twice", p.MAC)
		}
		macs[p.MAC.String()] = true
	}
	for a, mac := range e.Remote {
		a = a.Unmap()
		switch {
		case a.Is6() && !e.IPv6:
			return fmt.Errorf("netdrv: remote address %v: IPv6 in the entries of an IPv4-only VPC copy", a)
		case a.Is6() && (a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.Zone() != ""):
			return fmt.Errorf("netdrv: remote address %v: want an IPv6 global or unique-local unicast address", a)
		case a.Is4() && (a.IsUnspecified() || a.IsMulticast() || a.IsLoopback()):
			return fmt.Errorf("netdrv: remote address %v: want an IPv4 unicast address", a)
		case !a.IsValid():
			return fmt.Errorf("netdrv: remote address %v: want a unicast address", a)
		}
		if a == self || a == self6 {
			return fmt.Errorf("netdrv: remote address %v is this node's own overlay address", a)
		}
		if !macs[mac.String()] {
			return fmt.Errorf("netdrv: remote address %v points at %s, which is no peer's MAC", a, mac)
		}
	}
	return nil
}

func checkMAC(mac net.HardwareAddr) error {
	if len(mac) != 6 || mac[0]&1 != 0 {
		return fmt.Errorf("MAC %q: want a 6-byte unicast MAC", mac.String())
	}
	return nil
}
