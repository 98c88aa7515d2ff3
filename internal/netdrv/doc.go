// Package netdrv holds the network drivers of the self-hosted PrivateLink:
// they turn VPCs, vSwitches, hosts (ECS-like instances) and ENIs (endpoint
// IPs) into something real on this machine, and open sockets "inside" a
// VPC.
//
// [New] returns a [Driver] in its two roles: [Topology] (VPCs, vSwitches,
// hosts, ENIs; written by the zone agent only) and [Sockets] (sockets and
// commands inside them; the proxy, the resolver, tests and demos). Two
// drivers implement both:
//
//   - netns ([Netns], Linux, root): a VPC is a network namespace
//     "<prefix>-<vpcID>" acting as the VPC's router (ip_forward on, the DNS
//     resolver address 169.254.169.253/32 on its lo); a vSwitch is a bridge
//     "br-<last 8 chars of vswID>" in it carrying the gateway address; a host
//     is a namespace "<prefix>-<hostID>" whose eth0 is a veth peered with
//     "vh-<last 12 chars of hostID>" on the bridge; an ENI is a /32 on the
//     bridge. VPCs share nothing, so their CIDRs may overlap. Sockets are
//     created inside a namespace by switching the calling OS thread into it
//     (setns) for the duration of socket creation; namespace handles are
//     cached so that Dial on a hot path costs two setns calls extra.
//   - loopback ([Loopback], no root, NO isolation): VPC address a.b.c.d
//     is served at 127.b.c.d; overlapping VPC CIDRs collide.
//
// A third role, [Overlay], is the node agent's in a region that spans
// machines: the netns driver, once given its [Node] (underlay address,
// index, VPC MTU), joins its copy of a VPC to the copies on other nodes
// through one kernel VXLAN device per VPC copy and programs exactly the
// forwarding entries (FDB, neighbour, /32 route) it is given; no learning,
// no flooding. The loopback driver has no overlay.
//
// See README.md in this directory for the topology, names and cleanup.
package netdrv
