package knat

import (
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"golang.org/x/sys/unix"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Chain and object names inside a pair's tables.
const (
	chainPre  = "pre"  // nat prerouting: DNAT
	chainPost = "post" // nat postrouting: SNAT (consumer)
	chainFwd  = "fwd"  // filter forward: isolation, SG, counters, caps
	chainIn   = "in"   // filter input: nothing from the link
	chainOut  = "out"  // filter output: nothing new to the link

	stateEstRel = 0x2 | 0x4 // ct state established,related
	stateNew    = 0x8
)

func flowChain(id string) string { return "f-" + id } // consumer: per-flow forward checks
const chainDeny = "deny"         // consumer: SG deny (drop SYN, reset others)

// Named counters per flow (consumer table).
func ctrOrig(id string) string  { return "o-" + id } // consumer → provider
func ctrReply(id string) string { return "r-" + id } // provider → consumer
func ctrNew(id string) string   { return "n-" + id } // new connections
func ctrRej(id string) string   { return "j-" + id } // refused or cut packets

func provChain(id string) string { return "p-" + id } // provider nat: DNAT to a backend

// Named maps: per-flow dispatch is one hash lookup, whatever the number of
// flows, and a flow is added or removed by its elements.
const (
	mapEPs  = "eps"  // consumer: ip daddr . tcp dport → ct mark; provider: ip saddr . tcp dport → goto p-<id>
	mapSNAT = "snat" // consumer: ct mark → SNAT source
	mapFwd  = "fwdv" // consumer: ct mark → jump f-<id>
)

var addrPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)

func epMap(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: mapEPs, IsMap: true, Concatenation: true, KeyType: addrPort, DataType: nftables.TypeVerdict}
}

func markMap(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: mapEPs, IsMap: true, Concatenation: true, KeyType: addrPort, DataType: nftables.TypeMark}
}

func snatMap(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: mapSNAT, IsMap: true, KeyType: nftables.TypeMark, DataType: nftables.TypeIPAddr, KeyByteOrder: binaryutil.NativeEndian}
}

func fwdMap(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: mapFwd, IsMap: true, KeyType: nftables.TypeMark, DataType: nftables.TypeVerdict, KeyByteOrder: binaryutil.NativeEndian}
}

func apKey(a netip.Addr, port uint16) []byte {
	return append(ip4(a), port16(port)[0], port16(port)[1], 0, 0)
}

func markKey(m uint32) []byte { return binaryutil.NativeEndian.PutUint32(m) }

func verdictElem(key []byte, kind expr.VerdictKind, chain string) nftables.SetElement {
	return nftables.SetElement{Key: key, VerdictData: &expr.Verdict{Kind: kind, Chain: chain}}
}

func baseChains(c *nftables.Conn, t *nftables.Table, nat bool) map[string]*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	m := map[string]*nftables.Chain{}
	add := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) {
		m[name] = c.AddChain(&nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept})
	}
	add(chainPre, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	if nat {
		add(chainPost, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	}
	add(chainFwd, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter)
	add(chainIn, nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter)
	add(chainOut, nftables.ChainTypeFilter, nftables.ChainHookOutput, nftables.ChainPriorityFilter)
	return m
}

func rule(c *nftables.Conn, t *nftables.Table, ch *nftables.Chain, tag []byte, e exprs) {
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e, UserData: tag})
}

// consumerBase adds the consumer table's base chains and their generic
// rules; per-flow rules are inserted before the generic ones.
func (p *Pair) consumerBase(c *nftables.Conn, t *nftables.Table) {
	ch := baseChains(c, t, true)
	l := p.ifName
	drop := verdict(expr.VerdictDrop)
	eps, snat, fwd := markMap(t), snatMap(t), fwdMap(t)
	p.addMarker(c, t)
	for _, m := range []*nftables.Set{eps, snat, fwd} {
		c.AddSet(m, nil) //nolint:errcheck // only fails for anonymous sets
	}
	// ENI:port → the flow's ct mark, then DNAT to the provider end of the
	// link, same port (only the address is given).
	rule(c, t, ch[chainPre], nil, cat(tcp(), loadDaddrDport(), exprs{
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: eps.Name, SetID: eps.ID},
		&expr.Ct{Register: 1, Key: expr.CtKeyMARK, SourceRegister: true},
		&expr.Immediate{Register: 1, Data: ip4(p.pLink)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	}))
	// SG deny, shared: a connection attempt is dropped (SG semantics), a
	// packet of a cut connection gets a reset.
	dc := c.AddChain(&nftables.Chain{Name: chainDeny, Table: t})
	rule(c, t, dc, nil, cat(synOnly(), drop))
	rule(c, t, dc, nil, cat(tcp(), tcpReset()))
	rule(c, t, dc, nil, drop)
	rule(c, t, ch[chainPost], nil, cat(oif(l), exprs{&expr.Ct{Register: 1, Key: expr.CtKeyMARK},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: snat.Name, SetID: snat.ID},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1}}))
	rule(c, t, ch[chainFwd], nil, cat(exprs{&expr.Ct{Register: 1, Key: expr.CtKeyMARK}}, vmapLookup(fwd)))
	// forward: after the per-flow jumps, nothing else crosses the link.
	rule(c, t, ch[chainFwd], nil, cat(iif(l), drop))
	rule(c, t, ch[chainFwd], nil, cat(oif(l), drop))
	// the router itself neither receives from nor opens to the provider.
	rule(c, t, ch[chainIn], nil, cat(iif(l), drop))
	rule(c, t, ch[chainOut], nil, cat(oif(l), ctState(stateEstRel), verdict(expr.VerdictAccept)))
	rule(c, t, ch[chainOut], nil, cat(oif(l), drop))
}

// providerBase adds the provider table's base chains and generic rules.
func (p *Pair) providerBase(c *nftables.Conn, t *nftables.Table) {
	ch := baseChains(c, t, false)
	l := p.ifName
	drop := verdict(expr.VerdictDrop)
	acc := verdict(expr.VerdictAccept)
	eps := epMap(t)
	p.addMarker(c, t)
	c.AddSet(eps, nil) //nolint:errcheck // only fails for anonymous sets
	rule(c, t, ch[chainPre], nil, cat(iif(l), tcp(), daddr(p.pLink), loadSaddrDport(), vmapLookup(eps)))
	// from the link: only connections our DNAT rewrote to a backend.
	rule(c, t, ch[chainFwd], nil, cat(iif(l), ctDNATed(), ctOrigDstAddr(p.pLink), acc))
	rule(c, t, ch[chainFwd], nil, cat(iif(l), drop))
	// to the link: only the replies of those; the provider cannot open
	// connections into the consumer VPC (TCP gets a reset, the rest is dropped).
	rule(c, t, ch[chainFwd], nil, cat(oif(l), ctReply(), ctDNATed(), ctOrigDstAddr(p.pLink), acc))
	rule(c, t, ch[chainFwd], nil, cat(oif(l), tcp(), tcpReset()))
	rule(c, t, ch[chainFwd], nil, cat(oif(l), drop))
	rule(c, t, ch[chainIn], nil, cat(iif(l), drop))
	rule(c, t, ch[chainOut], nil, cat(oif(l), ctState(stateEstRel), acc))
	rule(c, t, ch[chainOut], nil, cat(oif(l), drop))
}

func chainRef(t *nftables.Table, name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: t}
}

// addConsumerFlow adds a flow's counters and chains to the batch;
// setConsumerFlow fills them and adds its map elements.
func (p *Pair) addConsumerFlow(c *nftables.Conn, t *nftables.Table, f Flow) {
	for _, n := range []string{ctrOrig(f.ID), ctrReply(f.ID), ctrNew(f.ID), ctrRej(f.ID)} {
		c.AddObj(&nftables.CounterObj{Table: t, Name: n})
	}
	c.AddChain(&nftables.Chain{Name: flowChain(f.ID), Table: t})
}

// setConsumerFlow fills a flow's (empty) chains and adds its map elements.
func (p *Pair) setConsumerFlow(c *nftables.Conn, t *nftables.Table, f Flow, mark uint32) error {
	// The DNAT marks the connection with the flow's mark; SNAT and the
	// forward dispatch look the mark up.
	p.fillConsumerFlow(c, t, f)
	// The comment lets a later incarnation adopt the flow (adopt_linux.go).
	if err := c.SetAddElements(markMap(t), []nftables.SetElement{{Key: apKey(f.ENI.Addr(), f.ENI.Port()), Val: markKey(mark), Comment: elemComment(f)}}); err != nil {
		return err
	}
	if err := c.SetAddElements(snatMap(t), []nftables.SetElement{{Key: markKey(mark), Val: ip4(f.SNAT)}}); err != nil {
		return err
	}
	return c.SetAddElements(fwdMap(t), []nftables.SetElement{verdictElem(markKey(mark), expr.VerdictJump, flowChain(f.ID))})
}

// unsetConsumerFlow deletes a flow's map elements and empties its chains.
func (p *Pair) unsetConsumerFlow(c *nftables.Conn, t *nftables.Table, f Flow, mark uint32) error {
	if err := c.SetDeleteElements(markMap(t), []nftables.SetElement{{Key: apKey(f.ENI.Addr(), f.ENI.Port())}}); err != nil {
		return err
	}
	if err := c.SetDeleteElements(snatMap(t), []nftables.SetElement{{Key: markKey(mark)}}); err != nil {
		return err
	}
	if err := c.SetDeleteElements(fwdMap(t), []nftables.SetElement{{Key: markKey(mark)}}); err != nil {
		return err
	}
	c.FlushChain(chainRef(t, flowChain(f.ID)))
	return nil
}

// delConsumerFlow deletes a flow's (unset) chains and counters.
func (p *Pair) delConsumerFlow(c *nftables.Conn, t *nftables.Table, f Flow) {
	c.DelChain(chainRef(t, flowChain(f.ID)))
	for _, n := range []string{ctrOrig(f.ID), ctrReply(f.ID), ctrNew(f.ID), ctrRej(f.ID)} {
		c.DeleteObject(&nftables.CounterObj{Table: t, Name: n})
	}
}

// fillConsumerFlow adds the rules of the flow's own (empty) chains.
func (p *Pair) fillConsumerFlow(c *nftables.Conn, t *nftables.Table, f Flow) {
	fc := chainRef(t, flowChain(f.ID))
	deny := cat(counterRef(ctrRej(f.ID)), gotoChain(chainDeny))
	l := p.ifName
	drop, acc := verdict(expr.VerdictDrop), verdict(expr.VerdictAccept)
	// Replies from the provider: count, cap, accept; nothing else from the link.
	reply := cat(iif(l), ctReply(), counterRef(ctrReply(f.ID)))
	if f.RateBytes > 0 {
		rule(c, t, fc, nil, cat(reply, limitOver(f.RateBytes), drop))
		reply = cat(iif(l), ctReply())
	}
	rule(c, t, fc, nil, cat(reply, acc))
	rule(c, t, fc, nil, cat(iif(l), drop))
	// Consumer → provider, only over the link.
	rule(c, t, fc, nil, cat(oif(l), counterRef(ctrOrig(f.ID))))
	if f.RateBytes > 0 {
		rule(c, t, fc, nil, cat(limitOver(f.RateBytes), drop))
	}
	rule(c, t, fc, nil, cat(oif(l), ctState(stateEstRel), acc))
	rule(c, t, fc, nil, cat(oif(l), ctState(stateNew), counterRef(ctrNew(f.ID))))
	if len(f.chosen(p.cfg.Zone)) == 0 {
		// No healthy backend: refuse at once.
		rule(c, t, fc, nil, cat(counterRef(ctrRej(f.ID)), tcpReset()))
	}
	if len(f.SG) > 0 {
		port := f.ENI.Port()
		for _, r := range sortedSG(f.SG) {
			if port < r.PortLo || port > r.PortHi {
				continue
			}
			v := acc
			if !r.Accept {
				v = deny
			}
			rule(c, t, fc, nil, cat(oif(l), saddrIn(r.Source), v))
		}
		rule(c, t, fc, nil, deny)
	}
	rule(c, t, fc, nil, cat(oif(l), acc))
	rule(c, t, fc, nil, drop)
}

// setProviderFlow fills a flow's provider chain (DNAT to its backends)
// and adds its map element; the chain must exist and be empty.
func (p *Pair) setProviderFlow(c *nftables.Conn, t *nftables.Table, f Flow) error {
	if bs := f.chosen(p.cfg.Zone); len(bs) > 0 {
		pick, err := dnatPick(c, t, bs)
		if err != nil {
			return err
		}
		rule(c, t, chainRef(t, provChain(f.ID)), nil, pick)
	}
	e := verdictElem(apKey(f.SNAT, f.ENI.Port()), expr.VerdictGoto, provChain(f.ID))
	e.Comment = elemComment(f)
	return c.SetAddElements(epMap(t), []nftables.SetElement{e})
}

func (p *Pair) unsetProviderFlow(c *nftables.Conn, t *nftables.Table, f Flow) error {
	if err := c.SetDeleteElements(epMap(t), []nftables.SetElement{{Key: apKey(f.SNAT, f.ENI.Port())}}); err != nil {
		return err
	}
	c.FlushChain(chainRef(t, provChain(f.ID)))
	return nil
}
