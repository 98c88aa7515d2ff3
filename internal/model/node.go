package model

import (
	"errors"
	"fmt"
	"net/netip"
)

// Nodes: a node is one Linux machine (or, in the lab, one node namespace)
// running privlink's data plane. docs/design/multinode.md §2 defines the
// records; these are their types and the numbers derived from them.

// Node status values in the API's node list.
const (
	NodeReady    = "Ready"
	NodeNotReady = "NotReady"
)

// VNI bounds: the control plane allocates from FirstAutoVNI upwards
// (1..FirstAutoVNI-1 stay free for manual use); MaxVNI is VXLAN's 24 bits.
const (
	FirstAutoVNI = 4096
	MaxVNI       = 1<<24 - 1
)

// MaxNodeIndex bounds a node's index: the overlay address 169.254.<i>>8>.<i&255>
// stays in 169.254.0.0/17, clear of the resolver at 169.254.169.253.
const MaxNodeIndex = 32767

// NodeReg is a node's permanent registration (nodereg/<name>): written by
// its agent, NotReadySince stamped by the placement controller.
type NodeReg struct {
	Name   string `json:"name"`
	ZoneID string `json:"zoneId"`
	// UnderlayAddr is the node's address on the underlay; the zero value
	// (a node started without --underlay-addr) builds no overlay and may
	// only be the region's one node.
	UnderlayAddr  netip.Addr `json:"underlayAddr"`
	Index         int        `json:"index"`
	OverlayAddr   netip.Addr `json:"overlayAddr"`
	Registered    string     `json:"registered"`
	NotReadySince string     `json:"notReadySince,omitempty"`
}

// NodeStatus is a node's liveness record (node/<name>), written by its
// agent under the node's lease: its presence is Ready.
type NodeStatus struct {
	Name     string `json:"name"`
	LeaseID  int64  `json:"leaseId"`
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	Started  string `json:"started"`
	Synced   bool   `json:"synced"`
	Network  string `json:"network"`
	VPCMTU   int    `json:"vpcMtu"`
}

// ENIPlacement says which node serves an endpoint zone's ENI
// (eniplace/<endpointId>/<zoneId>); Node is empty while the zone has no
// ready node. The key's mod revision is the placement epoch.
type ENIPlacement struct {
	Node      string `json:"node"`
	NodeLease int64  `json:"nodeLease"`
	Since     string `json:"since"`
	Moves     int    `json:"moves"`
	// Epoch is the key's mod revision, filled in by the store when it
	// reads the record (never stored in the value).
	Epoch int64 `json:"-"`
}

// ValidNodeName reports whether s may name a node: 1 to 63 letters,
// digits, '.', '_' or '-', starting with a letter or digit (hostnames fit;
// no '/', so it is one key element).
func ValidNodeName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i, c := range []byte(s) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// OverlayAddr is the overlay address of the node with index i (1..MaxNodeIndex).
func OverlayAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{169, 254, byte(i >> 8), byte(i)})
}

// ValidVNI reports whether v is a VXLAN network identifier (1..MaxVNI).
func ValidVNI(v int) bool { return v >= 1 && v <= MaxVNI }

// Validate checks a node registration.
func (n *NodeReg) Validate() error {
	errs := []error{nodeName(n.Name), nonEmpty("zoneId", n.ZoneID)}
	if n.UnderlayAddr.IsValid() {
		errs = append(errs, addr4("underlayAddr", n.UnderlayAddr))
	}
	if n.Index < 1 || n.Index > MaxNodeIndex {
		errs = append(errs, fmt.Errorf("index %d is out of 1..%d", n.Index, MaxNodeIndex))
	} else if n.OverlayAddr != OverlayAddr(n.Index) {
		errs = append(errs, fmt.Errorf("overlayAddr %v is not %v (index %d)", n.OverlayAddr, OverlayAddr(n.Index), n.Index))
	}
	return errors.Join(errs...)
}

// Validate checks a node's liveness record.
func (n *NodeStatus) Validate() error {
	err := nodeName(n.Name)
	if err == nil && n.VPCMTU < 0 {
		err = fmt.Errorf("vpcMtu %d is negative", n.VPCMTU)
	}
	return err
}

// Validate checks an ENI placement.
func (p *ENIPlacement) Validate() error {
	if p.Moves < 0 {
		return fmt.Errorf("moves %d is negative", p.Moves)
	}
	if p.Node != "" {
		return nodeName(p.Node)
	}
	return nil
}

func nodeName(s string) error {
	if !ValidNodeName(s) {
		return fmt.Errorf("%q is not a node name", s)
	}
	return nil
}
