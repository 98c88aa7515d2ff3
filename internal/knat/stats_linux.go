package knat

import (
	"fmt"
	"net/netip"
	"strings"

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

// Stats reads every applied flow's figures, by flow ID.
//
// The pair's lock is held only to copy the flows and open the two netlink
// sockets in the consumer router; the kernel reads (every counter object,
// the whole conntrack table: about a second at 10,000 flows on 2 busy
// cores) run without it, so they never hold up an Apply or Change.
func (p *Pair) Stats() (map[string]Stats, error) {
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
	// Only the pair's connections (their marks carry markBase; markOf):
	// the kernel skips the rest of the router's table, which under other
	// traffic through the VPC router (TIME_WAIT entries of every routed
	// connection) was most of what a reading cost.
	flows, err := ct.DumpFilter(conntrack.NewFilter().Mark(markBase).MarkMask(markMask), nil)
	if err != nil {
		return nil, fmt.Errorf("dump conntrack: %w", err)
	}
	for _, e := range flows {
		o := e.TupleOrig
		if o.Proto.Protocol != unix.IPPROTO_TCP || e.ProtoInfo.TCP == nil || e.ProtoInfo.TCP.State != 3 {
			continue
		}
		if id, ok := byENI[netip.AddrPortFrom(o.IP.DestinationAddress, o.Proto.DestinationPort)]; ok {
			s := out[id]
			s.Active++
			out[id] = s
		}
	}
	return out, nil
}
