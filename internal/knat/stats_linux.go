package knat

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
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
func (p *Pair) Stats() (map[string]Stats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := nftConn(p.cNS)
	if err != nil {
		return nil, err
	}
	objs, err := c.GetObjects(p.cTab)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	out := map[string]Stats{}
	for id := range p.flows {
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
	ct, err := ctConn(p.cNS)
	if err != nil {
		return nil, err
	}
	defer ct.Close()
	flows, err := ct.Dump(nil)
	if err != nil {
		return nil, fmt.Errorf("dump conntrack: %w", err)
	}
	byENI := map[netip.AddrPort]string{}
	for id, f := range p.flows {
		byENI[f.ENI] = id
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
