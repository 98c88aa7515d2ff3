package netdrv

import "net/netip"

// Topology is a driver's control role: it realises VPCs, vSwitches, hosts
// and ENIs on this machine. It has one writer, the zone agent; every call is
// idempotent.
type Topology interface {
	EnsureVPC(vpcID string) error        // create the VPC's namespace (or reuse one left by a previous run)
	AdoptVPC(vpcID, nsPath string) error // use an existing namespace as the VPC's router; never deleted, only what we added in it
	DeleteVPC(vpcID string) error        // removes everything inside
	EnsureVSwitch(vpcID, vswID string, cidr netip.Prefix, gw netip.Addr) error
	DeleteVSwitch(vpcID, vswID string) error
	EnsureHost(h Host) error
	DeleteHost(hostID string) error
	AddENI(vpcID, vswID string, ip netip.Addr) error
	RemoveENI(vpcID, vswID string, ip netip.Addr) error
	// Inventory lists what this driver's prefix has on the machine, so a
	// restarted agent can remove what was deleted from the store while it
	// was down (empty for loopback: nothing outlives the process).
	Inventory() (Inventory, error)
	// Cleanup deletes every namespace and /etc/netns dir with this
	// driver's prefix (tests, demo, server --cleanup).
	Cleanup() error
}

// Host describes an ECS-like host attached to a vSwitch.
type Host struct {
	ID, VpcID, VSwitchID string
	IP                   netip.Addr
	Prefix               netip.Prefix // vSwitch CIDR
	Gateway              netip.Addr
	// IP6 and Prefix6 (the vSwitch's /64) make the host dual-stack; its
	// IPv6 gateway is the /64's ::1 (ipv6_linux.go). Zero: IPv4 only.
	IP6     netip.Addr
	Prefix6 netip.Prefix
}

// Inventory is what one driver prefix has on this machine.
type Inventory struct {
	VPCs      []string
	Hosts     []string
	VSwitches []VSwitchRef
	ENIs      []ENIRef
	Overlays  []OverlayRef // VPC copies with a VXLAN device (netns driver)
}

// VSwitchRef names a vSwitch bridge.
type VSwitchRef struct{ VpcID, VSwitchID string }

// ENIRef names an ENI address on a vSwitch bridge.
type ENIRef struct {
	VpcID, VSwitchID string
	IP               netip.Addr
}
