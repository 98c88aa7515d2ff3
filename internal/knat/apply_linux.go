package knat

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Apply makes the pair forward exactly the desired flows. It validates the
// whole set first (an invalid set changes nothing), then changes only the
// flows that differ from the last Apply, in one nftables batch per
// namespace (provider first, then consumer). Removed flows, and live
// connections that a changed security group no longer allows, are cut:
// their conntrack entries are deleted in both namespaces and their next
// packets get a TCP reset. Backend changes do not touch established
// connections. After a failed batch the next Apply rebuilds both tables.
func (p *Pair) Apply(desired []Flow) error {
	if err := checkFlows(desired, p.cfg.SNAT); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dirty {
		old := p.flows
		if err := p.reset(); err != nil {
			return err
		}
		defer func() {
			for id, f := range old {
				if !slices.ContainsFunc(desired, func(d Flow) bool { return d.ID == id }) {
					p.cutFlow(f, nil) //nolint:errcheck // best effort after a rebuild
				}
			}
		}()
	}
	want := map[string]Flow{}
	for _, f := range desired {
		want[f.ID] = f
	}
	var removed, added, changed []Flow
	for id, f := range p.flows {
		w, ok := want[id]
		switch {
		case !ok:
			removed = append(removed, f)
		case w.ENI != f.ENI || w.SNAT != f.SNAT:
			removed = append(removed, f)
			added = append(added, w)
		case !reflect.DeepEqual(w, f):
			changed = append(changed, w)
		}
	}
	for id, f := range want {
		if _, ok := p.flows[id]; !ok {
			added = append(added, f)
		}
	}
	if len(removed)+len(added)+len(changed) == 0 {
		return nil
	}
	if err := p.program(removed, added, changed); err != nil {
		p.dirty = true
		return err
	}
	var errs []error
	for _, f := range removed {
		errs = append(errs, p.cutFlow(f, nil))
	}
	for _, f := range changed {
		old := p.flows[f.ID]
		if !reflect.DeepEqual(old.SG, f.SG) {
			errs = append(errs, p.cutFlow(f, f.allowsAddr))
		}
	}
	p.flows = want
	for id := range p.marks {
		if _, ok := want[id]; !ok {
			delete(p.marks, id)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cut connections: %w", err)
	}
	return nil
}

func (f Flow) allowsAddr(src []byte) bool {
	a, ok := netipFromSlice(src)
	return ok && f.allows(a)
}

// program writes the diff as one batch per namespace.
func (p *Pair) program(removed, added, changed []Flow) error {
	// Provider: per-flow DNAT rules, replaced whole on any change.
	pc, err := nftConn(p.pNS)
	if err != nil {
		return err
	}
	pre, err := tagged(pc, p.pTab, chainPre)
	if err != nil {
		return err
	}
	for _, f := range slices.Concat(removed, changed) {
		for _, r := range pre[f.ID] {
			if err := pc.DelRule(r); err != nil {
				return err
			}
		}
	}
	for _, f := range slices.Concat(added, changed) {
		if err := p.addProviderFlow(pc, p.pTab, f); err != nil {
			return err
		}
	}
	if err := pc.Flush(); err != nil {
		return fmt.Errorf("provider batch: %w", err)
	}

	cc, err := nftConn(p.cNS)
	if err != nil {
		return err
	}
	t := p.cTab
	byChain := map[string]map[string][]*nftables.Rule{}
	for _, ch := range []string{chainPre, chainPost, chainFwd} {
		if byChain[ch], err = tagged(cc, t, ch); err != nil {
			return err
		}
	}
	for _, f := range removed {
		for _, ch := range []string{chainPre, chainPost, chainFwd} {
			for _, r := range byChain[ch][f.ID] {
				if err := cc.DelRule(r); err != nil {
					return err
				}
			}
		}
		for _, n := range []string{flowChain(f.ID), denyChain(f.ID)} {
			cc.FlushChain(chainRef(t, n))
		}
		for _, n := range []string{flowChain(f.ID), denyChain(f.ID)} {
			cc.DelChain(chainRef(t, n))
		}
		for _, n := range []string{ctrOrig(f.ID), ctrReply(f.ID), ctrNew(f.ID), ctrRej(f.ID)} {
			cc.DeleteObject(&nftables.CounterObj{Table: t, Name: n})
		}
	}
	for _, f := range changed {
		for _, n := range []string{flowChain(f.ID), denyChain(f.ID)} {
			cc.FlushChain(chainRef(t, n))
		}
		p.fillConsumerFlow(cc, t, f)
	}
	for _, f := range added {
		p.addConsumerFlow(cc, t, f, p.markOf(f.ID))
	}
	if err := cc.Flush(); err != nil {
		return fmt.Errorf("consumer batch: %w", err)
	}
	return nil
}

// tagged returns the per-flow rules of a base chain by flow ID.
func tagged(c *nftables.Conn, t *nftables.Table, chain string) (map[string][]*nftables.Rule, error) {
	rs, err := c.GetRules(t, chainRef(t, chain))
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", t.Name, chain, err)
	}
	out := map[string][]*nftables.Rule{}
	for _, r := range rs {
		if i := bytes.IndexByte(r.UserData, ':'); i > 0 {
			id := string(r.UserData[i+1:])
			out[id] = append(out[id], r)
		}
	}
	return out, nil
}

func ctConn(ns netns.NsHandle) (*conntrack.Conn, error) {
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(ns)})
	if err != nil {
		return nil, fmt.Errorf("conntrack: %w", err)
	}
	return c, nil
}

// cutFlow deletes the conntrack entries of a flow's connections in both
// namespaces; with keep, only those whose client address keep rejects.
func (p *Pair) cutFlow(f Flow, keep func(src []byte) bool) error {
	cc, err := ctConn(p.cNS)
	if err != nil {
		return err
	}
	defer cc.Close()
	flows, err := cc.Dump(nil)
	if err != nil {
		return fmt.Errorf("dump consumer conntrack: %w", err)
	}
	snatPorts := map[uint16]bool{}
	var errs []error
	for _, e := range flows {
		o := e.TupleOrig
		if o.Proto.Protocol != unix.IPPROTO_TCP || o.IP.DestinationAddress != f.ENI.Addr() || o.Proto.DestinationPort != f.ENI.Port() {
			continue
		}
		if keep != nil && keep(o.IP.SourceAddress.AsSlice()) {
			continue
		}
		snatPorts[e.TupleReply.Proto.DestinationPort] = true
		if err := cc.Delete(e); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	pc, err := ctConn(p.pNS)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer pc.Close()
	pflows, err := pc.Dump(nil)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("dump provider conntrack: %w", err))...)
	}
	for _, e := range pflows {
		o := e.TupleOrig
		if o.Proto.Protocol != unix.IPPROTO_TCP || o.IP.SourceAddress != f.SNAT || o.IP.DestinationAddress != p.pLink || o.Proto.DestinationPort != f.ENI.Port() {
			continue
		}
		if keep != nil && !snatPorts[o.Proto.SourcePort] {
			continue
		}
		if err := pc.Delete(e); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Flows returns the flows as last applied.
func (p *Pair) Flows() []Flow {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Collect(maps.Values(p.flows))
}

// markOf returns the conntrack mark of a flow, allocating one if needed.
func (p *Pair) markOf(id string) uint32 {
	if m, ok := p.marks[id]; ok {
		return m
	}
	used := map[uint32]bool{}
	for _, m := range p.marks {
		used[m] = true
	}
	for p.nextMark++; used[markBase|p.nextMark&0xffffff]; p.nextMark++ {
	}
	m := markBase | p.nextMark&0xffffff
	p.marks[id] = m
	return m
}
