package knat

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Apply makes the pair forward exactly the desired flows. It validates the
// whole set first (an invalid set changes nothing), then changes only the
// flows that differ from the last Apply, in one nftables batch per
// namespace (provider first, then consumer; a diff of more than 1000 flows
// is split into batches of 1000 flows). Removed flows, and live
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
	if !p.cNS.IsOpen() {
		return invalid("IncorrectPairStatus.Closed", "pair %s is closed", p.cfg.ID)
	}
	return p.applyLocked(desired)
}

// Change sets the given flows (added, or replacing the flow of the same
// ID) and removes the flows of the given IDs (unknown IDs are ignored),
// leaving every other flow as it is: the same as Apply of the resulting
// set, with work proportional to the change rather than to the set
// (validation included: the given flows are checked against the
// programmed ones through indexes). An invalid change changes nothing.
func (p *Pair) Change(set []Flow, remove []string) error {
	for _, f := range set {
		if err := f.validate(p.cfg.SNAT); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cNS.IsOpen() {
		return invalid("IncorrectPairStatus.Closed", "pair %s is closed", p.cfg.ID)
	}
	if err := p.checkChange(set, remove); err != nil {
		return err
	}
	if p.dirty {
		// A failed batch: rebuild everything, the change included.
		want := maps.Clone(p.flows)
		for _, id := range remove {
			delete(want, id)
		}
		for _, f := range set {
			want[f.ID] = f
		}
		return p.applyLocked(slices.Collect(maps.Values(want)))
	}
	var removed, added, changed []Flow
	for _, id := range remove {
		if f, ok := p.flows[id]; ok {
			removed = append(removed, f)
		}
	}
	for _, f := range set {
		if old, ok := p.flows[f.ID]; !ok {
			added = append(added, f)
		} else if !p.same(old, f) {
			changed = append(changed, f)
		} else {
			p.confirm(f)
		}
	}
	return p.commit(removed, added, changed)
}

// checkChange validates a change against the programmed flows: no ID
// given twice, and no ENI or (SNAT, port) of a set flow held by another
// flow that stays.
func (p *Pair) checkChange(set []Flow, remove []string) error {
	gone := make(map[string]bool, len(remove))
	for _, id := range remove {
		gone[id] = true
	}
	ids := make(map[string]bool, len(set))
	enis := make(map[netip.AddrPort]string, len(set))
	snats := make(map[snatKey]string, len(set))
	for _, f := range set {
		if ids[f.ID] || gone[f.ID] {
			return invalid("InvalidFlowId.Duplicate", "flow id %s given twice", f.ID)
		}
		ids[f.ID] = true
		if o, ok := enis[f.ENI]; ok {
			return invalid("InvalidENI.Duplicate", "flows %s and %s share ENI %v", o, f.ID, f.ENI)
		}
		enis[f.ENI] = f.ID
		k := snatKey{f.SNAT, f.ENI.Port()}
		if o, ok := snats[k]; ok {
			return invalid("InvalidSNAT.Duplicate", "flows %s and %s share SNAT %v and port %d", o, f.ID, f.SNAT, f.ENI.Port())
		}
		snats[k] = f.ID
	}
	stays := func(o, id string) bool { return o != id && !gone[o] && !ids[o] }
	for _, f := range set {
		if o, ok := p.byENI[f.ENI]; ok && stays(o, f.ID) {
			return invalid("InvalidENI.Duplicate", "flows %s and %s share ENI %v", o, f.ID, f.ENI)
		}
		if o, ok := p.bySNAT[snatKey{f.SNAT, f.ENI.Port()}]; ok && stays(o, f.ID) {
			return invalid("InvalidSNAT.Duplicate", "flows %s and %s share SNAT %v and port %d", o, f.ID, f.SNAT, f.ENI.Port())
		}
	}
	return nil
}

// applyLocked brings the pair to desired (validated); p.mu is held.
func (p *Pair) applyLocked(desired []Flow) error {
	if p.dirty {
		old := p.flows
		if err := p.reset(); err != nil {
			return err
		}
		defer func() {
			var cuts []cut
			for _, f := range old {
				if w, ok := p.flows[f.ID]; !ok || w.ENI != f.ENI || w.SNAT != f.SNAT {
					cuts = append(cuts, cut{f, nil})
				}
			}
			p.cutFlows(cuts) //nolint:errcheck // best effort after a rebuild
		}()
	}
	want := make(map[string]Flow, len(desired))
	for _, f := range desired {
		want[f.ID] = f
	}
	var removed, added, changed []Flow
	for id, f := range p.flows {
		w, ok := want[id]
		switch {
		case !ok:
			removed = append(removed, f)
		case !p.same(f, w):
			changed = append(changed, w)
		default:
			p.confirm(w)
		}
	}
	for id, f := range want {
		if _, ok := p.flows[id]; !ok {
			added = append(added, f)
		}
	}
	return p.commit(removed, added, changed)
}

// commit programs a diff and records it: the flows as applied, their
// indexes and marks, then cuts the connections the diff ends.
func (p *Pair) commit(removed, added, changed []Flow) error {
	if len(removed)+len(added)+len(changed) == 0 {
		return nil
	}
	slices.SortFunc(added, func(a, b Flow) int { return strings.Compare(a.ID, b.ID) })
	if err := p.program(removed, added, changed); err != nil {
		p.dirty = true
		return err
	}
	var cuts []cut
	for _, f := range removed {
		cuts = append(cuts, cut{f, nil})
	}
	for _, f := range changed {
		old := p.flows[f.ID]
		if old.ENI != f.ENI || old.SNAT != f.SNAT {
			cuts = append(cuts, cut{old, nil})
		} else if !slices.Equal(old.SG, f.SG) {
			cuts = append(cuts, cut{f, f.allowsAddr})
		}
	}
	err := p.cutFlows(cuts)
	for _, f := range removed {
		p.forget(f)
		delete(p.markUsed, p.marks[f.ID])
		delete(p.marks, f.ID)
		delete(p.fps, f.ID)
	}
	for _, f := range changed {
		p.forget(p.flows[f.ID])
		p.record(f)
		delete(p.fps, f.ID)
	}
	for _, f := range added {
		p.record(f)
	}
	if err != nil {
		return fmt.Errorf("cut connections: %w", err)
	}
	return nil
}

// snatKey is what must be unique per SNAT source: (address, ENI port).
type snatKey struct {
	a netip.Addr
	p uint16
}

// record and forget keep p.flows and its indexes.
func (p *Pair) record(f Flow) {
	p.flows[f.ID] = f
	p.byENI[f.ENI] = f.ID
	p.bySNAT[snatKey{f.SNAT, f.ENI.Port()}] = f.ID
}

func (p *Pair) forget(f Flow) {
	delete(p.flows, f.ID)
	if p.byENI[f.ENI] == f.ID {
		delete(p.byENI, f.ENI)
	}
	if k := (snatKey{f.SNAT, f.ENI.Port()}); p.bySNAT[k] == f.ID {
		delete(p.bySNAT, k)
	}
}

// confirm replaces an adopted flow (ID, ENI and SNAT known) by the desired
// flow whose fingerprint it has: it is now known whole.
func (p *Pair) confirm(f Flow) {
	if _, ok := p.fps[f.ID]; ok {
		p.flows[f.ID] = f
		delete(p.fps, f.ID)
	}
}

// equal reports whether two flows program the same rules.
func (f Flow) equal(g Flow) bool {
	return f.ID == g.ID && f.ENI == g.ENI && f.SNAT == g.SNAT && f.RateBytes == g.RateBytes &&
		slices.Equal(f.Backends, g.Backends) && slices.Equal(f.SG, g.SG)
}

func (f Flow) allowsAddr(src []byte) bool {
	a, ok := netipFromSlice(src)
	return ok && f.allows(a)
}

// batchFlows is the most flows one nftables batch carries: every message
// of a batch is acknowledged, and the acknowledgements of more than a few
// thousand flows overflow even a 64 MiB receive buffer.
const batchFlows = 1000

// batcher flushes its connection every batchFlows flows.
type batcher struct {
	c    *nftables.Conn
	n    int
	what string
}

func (b *batcher) step() error {
	if b.n++; b.n%batchFlows == 0 {
		return b.flush()
	}
	return nil
}

func (b *batcher) flush() error {
	if err := b.c.Flush(); err != nil {
		return fmt.Errorf("%s batch: %w", b.what, err)
	}
	return nil
}

// program writes the diff: one batch per namespace (provider first), each
// atomic; a diff of more than batchFlows flows is split into batches of
// batchFlows flows. A flow owns chains and map elements, never a rule in a
// base chain, so nothing needs to be read back: removing or changing a
// flow is deleting its map elements and flushing its chains.
func (p *Pair) program(removed, added, changed []Flow) error {
	pc, err := nftConn(p.pNS)
	if err != nil {
		return err
	}
	pb := &batcher{c: pc, what: "provider"}
	pt := p.pTab
	for _, f := range removed {
		if err := p.unsetProviderFlow(pc, pt, f); err != nil {
			return err
		}
		pc.DelChain(chainRef(pt, provChain(f.ID)))
		if err := pb.step(); err != nil {
			return err
		}
	}
	for _, f := range changed {
		if err := p.unsetProviderFlow(pc, pt, p.flows[f.ID]); err != nil {
			return err
		}
		if err := p.setProviderFlow(pc, pt, f); err != nil {
			return err
		}
		if err := pb.step(); err != nil {
			return err
		}
	}
	for _, f := range added {
		pc.AddChain(&nftables.Chain{Name: provChain(f.ID), Table: pt})
		if err := p.setProviderFlow(pc, pt, f); err != nil {
			return err
		}
		if err := pb.step(); err != nil {
			return err
		}
	}
	if err := pb.flush(); err != nil {
		return err
	}

	cc, err := nftConn(p.cNS)
	if err != nil {
		return err
	}
	cb := &batcher{c: cc, what: "consumer"}
	t := p.cTab
	for _, f := range removed {
		if err := p.unsetConsumerFlow(cc, t, f, p.markOf(f.ID)); err != nil {
			return err
		}
		p.delConsumerFlow(cc, t, f)
		if err := cb.step(); err != nil {
			return err
		}
	}
	for _, f := range changed {
		m := p.markOf(f.ID)
		if err := p.unsetConsumerFlow(cc, t, p.flows[f.ID], m); err != nil {
			return err
		}
		if err := p.setConsumerFlow(cc, t, f, m); err != nil {
			return err
		}
		if err := cb.step(); err != nil {
			return err
		}
	}
	for _, f := range added {
		p.addConsumerFlow(cc, t, f)
		if err := p.setConsumerFlow(cc, t, f, p.markOf(f.ID)); err != nil {
			return err
		}
		if err := cb.step(); err != nil {
			return err
		}
	}
	return cb.flush()
}

func ctConn(ns netns.NsHandle) (*conntrack.Conn, error) {
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(ns)})
	if err != nil {
		return nil, fmt.Errorf("conntrack: %w", err)
	}
	return c, nil
}

// cut is a flow whose connections are to be cut; with keep, only those
// whose client address keep rejects.
type cut struct {
	f    Flow
	keep func(src []byte) bool
}

// cutFlow cuts one flow's connections.
func (p *Pair) cutFlow(f Flow, keep func(src []byte) bool) error {
	return p.cutFlows([]cut{{f, keep}})
}

// cutFlows deletes the conntrack entries of the flows' connections in both
// namespaces, with one dump per namespace whatever the number of flows.
func (p *Pair) cutFlows(cuts []cut) error {
	if len(cuts) == 0 {
		return nil
	}
	byENI := map[netip.AddrPort]cut{}
	for _, c := range cuts {
		byENI[c.f.ENI] = c
	}
	cc, err := ctConn(p.cNS)
	if err != nil {
		return err
	}
	defer cc.Close()
	flows, err := cc.Dump(nil)
	if err != nil {
		return fmt.Errorf("dump consumer conntrack: %w", err)
	}
	type pkey struct {
		src   netip.Addr
		sport uint16
		dport uint16
	}
	whole := map[netip.AddrPort]bool{} // provider side (SNAT, port): cut all
	some := map[pkey]bool{}            // provider side: cut these
	for _, c := range cuts {
		if c.keep == nil {
			whole[netip.AddrPortFrom(c.f.SNAT, c.f.ENI.Port())] = true
		}
	}
	var errs []error
	for _, e := range flows {
		o := e.TupleOrig
		if o.Proto.Protocol != unix.IPPROTO_TCP {
			continue
		}
		c, ok := byENI[netip.AddrPortFrom(o.IP.DestinationAddress, o.Proto.DestinationPort)]
		if !ok || (c.keep != nil && c.keep(o.IP.SourceAddress.AsSlice())) {
			continue
		}
		some[pkey{c.f.SNAT, e.TupleReply.Proto.DestinationPort, c.f.ENI.Port()}] = true
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
		if o.Proto.Protocol != unix.IPPROTO_TCP || o.IP.DestinationAddress != p.pLink {
			continue
		}
		if !whole[netip.AddrPortFrom(o.IP.SourceAddress, o.Proto.DestinationPort)] &&
			!some[pkey{o.IP.SourceAddress, o.Proto.SourcePort, o.Proto.DestinationPort}] {
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

// markOf returns the conntrack mark of a flow, allocating one if needed:
// a hash of the flow ID, probing on collision. Added flows are allocated in
// ID order, so the same set applied after a restart gets the same marks
// and the connections that survived the restart (their conntrack entries
// keep their marks) are still dispatched to their flow.
func (p *Pair) markOf(id string) uint32 {
	if m, ok := p.marks[id]; ok {
		return m
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	n := h.Sum32() & 0xffffff
	for {
		if m := markBase | n; n != 0 && !p.markUsed[m] {
			p.marks[id] = m
			p.markUsed[m] = true
			return m
		}
		n = (n + 1) & 0xffffff
	}
}
