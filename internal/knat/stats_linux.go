package knat

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// Stats are one flow's figures: nftables counters of the consumer table and
// conntrack's live connections.
type Stats struct {
	BytesOut, PacketsOut uint64 // consumer → provider
	BytesIn, PacketsIn   uint64 // provider → consumer
	NewConns             uint64 // connections let through (and loose pick-ups after a cut)
	Rejects              uint64 // packets refused: SG deny, no backend, cut connections
	Active               int    // conntrack entries in ESTABLISHED
}

// ctSeen is what the pair's last conntrack reading found: each flow's
// new-connection count as read just before it, whether any of the pair's
// TCP entries was in a state that is or can become ESTABLISHED, each
// flow's ESTABLISHED count, and when the next reading may be made.
type ctSeen struct {
	read   bool
	news   map[string]uint64
	open   bool
	active map[string]int
	next   time.Time
}

// ctPace spaces conntrack readings: after one that took d, the next is made
// no sooner than ctPace·d later, so reading costs at most 1/ctPace of a
// core whatever the table holds. A dump returns the pair's every entry,
// TIME_WAIT ones included (two minutes of them at the connection rate), and
// the kernel walks the whole machine's table to find them: read every
// second under a bench's short connections it took 60% of the privlink
// process's CPU (about a tenth of a core, on the cores the forwarded
// packets needed). In between, Stats repeats the last reading's active
// counts; the nftables counters are read every time.
const ctPace = 20

// TCP conntrack states that are or can become ESTABLISHED (the kernel's
// enum tcp_conntrack: SYN_SENT, SYN_RECV, ESTABLISHED, SYN_SENT2). The
// others (FIN_WAIT .. CLOSE) only lead to the entry's end; a new SYN on a
// TIME_WAIT entry makes a new connection, which the "n" counter counts.
func ctOpen(state uint8) bool { return state <= 3 || state == 9 }

// Stats reads every applied flow's figures, by flow ID.
//
// The pair's lock is held only to copy the flows and open the two netlink
// sockets in the consumer router; the kernel reads (every counter object,
// the whole conntrack table: about a second at 10,000 flows on 2 busy
// cores) run without it, so they never hold up an Apply or Change.
//
// The conntrack table is read only when it can hold an established
// connection of the pair: the last reading found one open (ctOpen), or a
// flow's new-connection counter moved since. A conntrack dump walks every
// entry of every namespace (the kernel filters by mark only as it goes),
// so an idle pair no longer costs in proportion to the machine's other
// connections, nor to its own TIME_WAIT entries (2 minutes of them after
// a burst of short connections); a busy one is read no more often than
// ctPace allows.
func (p *Pair) Stats() (map[string]Stats, error) {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	p.mu.Lock()
	byENI := make(map[netip.AddrPort]string, len(p.flows))
	for id, f := range p.flows {
		byENI[f.ENI] = id
	}
	tab := p.cTab
	c, err := nftables.New(nftables.WithNetNSFd(int(p.cNS)), nftables.AsLasting())
	var ct *conntrack.Conn
	if err == nil {
		if ct, err = ctConn(p.cNS); err != nil {
			c.CloseLasting() //nolint:errcheck
		}
	}
	p.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting() //nolint:errcheck
	defer ct.Close()
	objs, err := c.GetObjects(tab)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	out := make(map[string]Stats, len(byENI))
	for _, id := range byENI {
		out[id] = Stats{}
	}
	for _, o := range objs {
		co, ok := o.(*nftables.CounterObj)
		if !ok {
			continue
		}
		kind, id, ok := strings.Cut(co.Name, "-")
		s, known := out[id]
		if !ok || !known {
			continue
		}
		switch kind {
		case "o":
			s.BytesOut, s.PacketsOut = co.Bytes, co.Packets
		case "r":
			s.BytesIn, s.PacketsIn = co.Bytes, co.Packets
		case "n":
			s.NewConns = co.Packets
		case "j":
			s.Rejects = co.Packets
		}
		out[id] = s
	}
	if !p.seen.open && p.seen.read && !newMoved(out, p.seen.news) {
		return out, nil // nothing established, and nothing new since
	}
	if time.Now().Before(p.seen.next) { // paced: the last reading's counts
		setActive(out, p.seen.active)
		return out, nil
	}
	p.ctDumps.Add(1)
	start := time.Now()
	// Only the pair's connections (their marks carry markBase; markOf):
	// the kernel skips the rest of the router's table, which under other
	// traffic through the VPC router (TIME_WAIT entries of every routed
	// connection) was most of what a reading cost.
	flows, err := ct.DumpFilter(conntrack.NewFilter().Mark(markBase).MarkMask(markMask), nil)
	if err != nil {
		return nil, fmt.Errorf("dump conntrack: %w", err)
	}
	seen := ctSeen{read: true, news: make(map[string]uint64, len(out)), active: map[string]int{}}
	seen.next = time.Now().Add(ctPace * time.Since(start))
	for id, s := range out {
		seen.news[id] = s.NewConns
	}
	for _, e := range flows {
		o := e.TupleOrig
		if o.Proto.Protocol != unix.IPPROTO_TCP || e.ProtoInfo.TCP == nil {
			continue
		}
		id, ok := byENI[netip.AddrPortFrom(o.IP.DestinationAddress, o.Proto.DestinationPort)]
		if !ok || !ctOpen(e.ProtoInfo.TCP.State) {
			continue
		}
		seen.open = true
		if e.ProtoInfo.TCP.State == 3 {
			seen.active[id]++
		}
	}
	p.seen = seen
	setActive(out, seen.active)
	return out, nil
}

// setActive sets the active count of each flow of out that active names.
func setActive(out map[string]Stats, active map[string]int) {
	for id, n := range active {
		if s, ok := out[id]; ok {
			s.Active = n
			out[id] = s
		}
	}
}

// newMoved reports whether a flow's new-connection count differs from
// the one read before the last conntrack reading (or the flow is new and
// has counted one).
func newMoved(now map[string]Stats, before map[string]uint64) bool {
	for id, s := range now {
		if s.NewConns != before[id] {
			return true
		}
	}
	return false
}
