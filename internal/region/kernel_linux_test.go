//go:build linux

package region

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/lab"
	"github.com/privlink/privlink/internal/netdrv"
)

// vpcCopy opens node n's copy of the customer VPC (false when it has none).
func (e *env) vpcCopy(n *lab.Node) (*netlink.Handle, bool, error) {
	h, err := netns.GetFromName(n.NetnsPrefix + "-" + e.consumerVPC)
	if err != nil {
		return nil, false, nil
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	return nl, err == nil, err
}

// holders are the data-plane nodes whose copy of the customer VPC has ip
// as an address (an ENI is a /32 on the copy's bridge).
func (e *env) holders(ip netip.Addr) ([]*lab.Node, error) {
	var out []*lab.Node
	for _, n := range e.dataNodes() {
		nl, ok, err := e.vpcCopy(n)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		addrs, err := nl.AddrList(nil, unix.AF_INET)
		nl.Close()
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if a.IP.Equal(ip.AsSlice()) {
				out = append(out, n)
				break
			}
		}
	}
	return out, nil
}

// holder is the one node holding ip, or an error.
func (e *env) holder(ip netip.Addr) (*lab.Node, error) {
	hs, err := e.holders(ip)
	if err != nil {
		return nil, err
	}
	if len(hs) != 1 {
		return nil, fmt.Errorf("%s is held by %d nodes %v, want 1", ip, len(hs), names(hs))
	}
	return hs[0], nil
}

// noDuplicate checks "no duplicate address" for ip held by owner: the
// address is on owner's copy only; the copy of the customer VPC on the app
// host's node resolves it (permanent neighbour entry on its VXLAN device)
// to owner's VTEP MAC, and every other copy to that MAC or not at all (a
// node keeps a copy it no longer needs, with no entries: nothing of the VPC
// is routed through it, docs/design/multinode.md).
func (e *env) noDuplicate(ip netip.Addr, owner *lab.Node) error {
	h, err := e.holder(ip)
	if err != nil {
		return err
	}
	if h != owner {
		return fmt.Errorf("%s is on %s, want %s", ip, h.Name, owner.Name)
	}
	want := netdrv.VTEPMAC(owner.Underlay).String()
	for _, n := range e.dataNodes() {
		if n == owner {
			continue
		}
		nl, ok, err := e.vpcCopy(n)
		if err != nil || !ok {
			continue // no copy of the VPC: nothing to resolve
		}
		got, err := vxNeigh(nl, e.consumerVPC, ip)
		nl.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		if got != want && (got != "" || n == e.i) {
			return fmt.Errorf("%s's copy resolves %s to %q, want %s's VTEP %s", n.Name, ip, got, owner.Name, want)
		}
	}
	return nil
}

// vxNeigh is the permanent neighbour entry for ip on the VPC copy's VXLAN
// device ("" when there is none).
func vxNeigh(nl *netlink.Handle, vpcID string, ip netip.Addr) (string, error) {
	link, err := nl.LinkByName(netdrv.VXLANName(vpcID))
	if err != nil {
		return "", err
	}
	neighs, err := nl.NeighList(link.Attrs().Index, unix.AF_INET)
	if err != nil {
		return "", err
	}
	for _, ne := range neighs {
		if ne.IP.Equal(ip.AsSlice()) && ne.State&netlink.NUD_PERMANENT != 0 {
			return ne.HardwareAddr.String(), nil
		}
	}
	return "", nil
}

func names(ns []*lab.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

// faultTarget is the node holding zone h's ENI, which a fault may hit: n4
// or n6, never n7 (the vendor's zone h database host lives there).
func (e *env) faultTarget(ip netip.Addr) (*lab.Node, error) {
	h, err := e.holder(ip)
	if err != nil {
		return nil, err
	}
	if h == e.hb {
		return nil, fmt.Errorf("zone h's ENI %s is on %s, the database node (placement chose it over %s and %s)", ip, h.Name, e.h1.Name, e.h2.Name)
	}
	return h, nil
}
