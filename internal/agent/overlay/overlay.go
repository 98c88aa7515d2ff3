// Package overlay computes, from a store snapshot, the VXLAN forwarding
// entries of one node's VPC copies (docs/design/multinode.md §3.2): which
// other nodes hold each VPC (one FDB entry each) and which addresses of the
// VPC live on them (a neighbour entry and a /32 or /128 route each; IPv6
// only for a dual-stack VPC). It is pure: the
// node agent applies its result with netdrv's Overlay role.
package overlay

import (
	"net"
	"net/netip"
	"slices"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
)

// Copy is one VPC copy of a node: its VNI and its forwarding entries.
type Copy struct {
	VNI     int
	Entries netdrv.Entries
}

// Holdings is, per VPC, each node holding a copy and the VPC's addresses
// placed on that node (hosts' IPv4 and IPv6 addresses, ENIs; not the
// overlay addresses).
type Holdings map[string]map[string][]netip.Addr

// Hold derives who holds what from the snapshot: a node holds a VPC when
// it has a host in it, serves an ENI in it (by placement), or serves an
// ENI of an endpoint whose service's backends are in it (the provider copy
// its proxy dials from). defaultNode owns hosts without nodeName. The SNAT
// address of an endpoint zone of a kernel NAT service counts as an address
// of the provider VPC on the node serving the zone's ENI: the backends'
// nodes route their replies to it over the overlay (docs/forwarding.md,
// "Across nodes").
func Hold(st *store.State, defaultNode string) Holdings {
	h := Holdings{}
	add := func(vpc, node string, a netip.Addr) {
		if vpc == "" || node == "" {
			return
		}
		if h[vpc] == nil {
			h[vpc] = map[string][]netip.Addr{}
		}
		if a.IsValid() {
			h[vpc][node] = append(h[vpc][node], a)
		} else if _, ok := h[vpc][node]; !ok {
			h[vpc][node] = nil
		}
	}
	for _, host := range st.Hosts {
		add(host.VpcID, store.HostNode(host, defaultNode), host.IP)
		if host.Ipv6Address.IsValid() {
			add(host.VpcID, store.HostNode(host, defaultNode), host.Ipv6Address)
		}
	}
	for _, ep := range st.Endpoints {
		for _, z := range ep.Zones {
			p := st.Placement(ep.EndpointID, z.ZoneID)
			if p == nil || p.Node == "" {
				continue
			}
			add(ep.VpcID, p.Node, z.IP)
			if z.Ipv6Address.IsValid() { // a dual-stack zone's IPv6 ENI lives with the IPv4 one
				add(ep.VpcID, p.Node, z.Ipv6Address)
			}
			if svc := st.Services[ep.ServiceID]; svc != nil {
				add(svc.VpcID, p.Node, netip.Addr{})
				if z.SnatIP.Is4() && model.EffectiveForwarding(svc) == model.ForwardNAT {
					add(svc.VpcID, p.Node, z.SnatIP)
				}
			}
		}
	}
	return h
}

// Compute returns the VPC copies of node self that join an overlay: every
// VPC self holds that has a VNI, with an FDB entry per other node holding
// it (registered with an underlay address) and a remote entry for each of
// the VPC's addresses on those nodes and for their overlay addresses. A
// dual-stack VPC's copy has IPv6 set and also carries the hosts' IPv6
// addresses and the other nodes' IPv6 overlay addresses; an IPv4-only
// VPC's carries no IPv6 address (even one a record holds by mistake). A
// node registered without an underlay address gets nothing (single-node
// behaviour). An address claimed by several other nodes (a record race)
// goes to the first by name.
func Compute(st *store.State, self, defaultNode string) map[string]Copy {
	me := st.NodeRegs[self]
	if me == nil || !me.UnderlayAddr.IsValid() {
		return map[string]Copy{}
	}
	out := map[string]Copy{}
	for vpcID, nodes := range Hold(st, defaultNode) {
		vpc := st.VPCs[vpcID]
		if _, mine := nodes[self]; !mine || vpc == nil || !model.ValidVNI(vpc.VNI) {
			continue
		}
		local := map[netip.Addr]bool{}
		for _, a := range nodes[self] {
			local[a] = true
		}
		names := make([]string, 0, len(nodes))
		for n := range nodes {
			names = append(names, n)
		}
		slices.Sort(names)
		e := netdrv.Entries{Remote: map[netip.Addr]net.HardwareAddr{}, IPv6: vpc.Ipv6CidrBlock.IsValid()}
		for _, n := range names {
			reg := st.NodeRegs[n]
			if n == self || reg == nil || !reg.UnderlayAddr.IsValid() || reg.UnderlayAddr == me.UnderlayAddr {
				continue
			}
			mac := netdrv.VTEPMAC(reg.UnderlayAddr)
			e.Peers = append(e.Peers, netdrv.Peer{MAC: mac, Underlay: reg.UnderlayAddr})
			if reg.OverlayAddr.IsValid() && reg.OverlayAddr != me.OverlayAddr {
				e.Remote[reg.OverlayAddr] = mac
			}
			if a6 := netdrv.OverlayAddr6(reg.Index); e.IPv6 && a6.IsValid() && reg.Index != me.Index {
				e.Remote[a6] = mac
			}
			for _, a := range nodes[n] {
				if a.Is6() && !e.IPv6 {
					continue
				}
				if _, taken := e.Remote[a]; !taken && !local[a] {
					e.Remote[a] = mac
				}
			}
		}
		out[vpcID] = Copy{VNI: vpc.VNI, Entries: e}
	}
	return out
}
