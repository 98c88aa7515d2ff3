//go:build linux

package netdrv

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// UnderlayTable is the nftables table (family ip) SetUnderlayPeers keeps in
// the node namespace.
const UnderlayTable = "privlink-underlay"

// SetUnderlayPeers implements Overlay. VXLAN has no authentication: anyone
// who can send UDP to port 4789 of a node could inject frames into any VNI.
// The table holds one input-hook rule,
//
//	udp dport 4789 ip saddr != { peers } drop
//
// replaced atomically (one nftables transaction) on every call; nothing
// else of the namespace's firewall is touched.
func (d *NetnsDriver) SetUnderlayPeers(peers []netip.Addr) error {
	var els []nftables.SetElement
	seen := map[netip.Addr]bool{}
	for _, p := range peers {
		p = p.Unmap()
		if !p.Is4() {
			return fmt.Errorf("netdrv: underlay peer %v: want an IPv4 address", p)
		}
		if !seen[p] {
			seen[p] = true
			els = append(els, nftables.SetElement{Key: ip4Bytes(p)})
		}
	}
	slices.SortFunc(els, func(a, b nftables.SetElement) int { return slices.Compare(a.Key, b.Key) })
	d.opMu.Lock()
	defer d.opMu.Unlock()
	if d.node == nil {
		return fmt.Errorf("%w: the node is not configured (SetNode)", ErrNoOverlay)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(d.node.ns)))
	if err != nil {
		return fmt.Errorf("netdrv: nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: UnderlayTable}
	c.AddTable(t) // so that the delete below never fails on a first run
	c.DelTable(t)
	c.AddTable(t)
	policy := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &policy})
	match := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(VXLANPort)},
	}
	if len(els) > 0 {
		set := &nftables.Set{Table: t, Anonymous: true, Constant: true, KeyType: nftables.TypeIPAddr}
		if err := c.AddSet(set, els); err != nil {
			return fmt.Errorf("netdrv: nftables peer set: %w", err)
		}
		match = append(match,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID, Invert: true})
	}
	match = append(match, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: match})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netdrv: nftables table %s: %w", UnderlayTable, err)
	}
	d.log.Info("underlay filter set", "table", UnderlayTable, "peers", len(els))
	return nil
}

func ip4Bytes(a netip.Addr) []byte { b := a.As4(); return b[:] }

// removeUnderlayFilter deletes the underlay table (Cleanup); absent is
// fine. Caller holds opMu.
func (d *NetnsDriver) removeUnderlayFilter() error {
	if d.node == nil {
		return nil
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(d.node.ns)))
	if err != nil {
		return fmt.Errorf("netdrv: nftables: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: UnderlayTable}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netdrv: remove nftables table %s: %w", UnderlayTable, err)
	}
	return nil
}
