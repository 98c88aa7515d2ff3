//go:build linux

package lab

import (
	"fmt"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Etcd ports of a node's member (on its underlay address).
const (
	EtcdClientPort = 2379
	EtcdPeerPort   = 2380
)

// NS is the node namespace's handle (owned by the lab: do not close it).
// It is what a driver running in the test process uses as the node's
// namespace (docs/design/multinode.md §9, S2).
func (n *Node) NS() netns.NsHandle { return n.ns }

// Netlink is a netlink handle in the node namespace (owned by the lab).
func (n *Node) Netlink() *netlink.Handle { return n.nl }

// UnderlayIndex is the interface index of the node's underlay link "ul"
// (the VXLAN devices' VtepDevIndex).
func (n *Node) UnderlayIndex() (int, error) {
	lk, err := n.nl.LinkByName(underlayName)
	if err != nil {
		return 0, fmt.Errorf("lab: %s underlay: %w", n.Name, err)
	}
	return lk.Attrs().Index, nil
}

// EtcdClientURL and EtcdPeerURL are the URLs of an etcd member on the node.
func (n *Node) EtcdClientURL() string {
	return fmt.Sprintf("https://%s:%d", n.Underlay, EtcdClientPort)
}

// EtcdPeerURL: see EtcdClientURL.
func (n *Node) EtcdPeerURL() string { return fmt.Sprintf("https://%s:%d", n.Underlay, EtcdPeerPort) }

// EtcdInitialCluster is the --etcd-initial-cluster value of members on
// nodes: "n1=https://10.255.0.1:2380,n2=…" (member name = node name).
func EtcdInitialCluster(nodes ...*Node) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = n.Name + "=" + n.EtcdPeerURL()
	}
	return strings.Join(parts, ",")
}

// EtcdEndpoints are the client URLs of members on nodes (an agent's
// --etcd-endpoints, comma-joined).
func EtcdEndpoints(nodes ...*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.EtcdClientURL()
	}
	return out
}
