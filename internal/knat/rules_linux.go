package knat

import (
	"net/netip"

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
func denyChain(id string) string { return "x-" + id } // consumer: SG deny (count, drop SYN, reset others)

// Named counters per flow (consumer table).
func ctrOrig(id string) string  { return "o-" + id } // consumer → provider
func ctrReply(id string) string { return "r-" + id } // provider → consumer
func ctrNew(id string) string   { return "n-" + id } // new connections
func ctrRej(id string) string   { return "j-" + id } // refused or cut packets

// Tags (rule user data) of the per-flow rules in base chains.
func tagDNAT(id string) []byte { return []byte("dnat:" + id) }
func tagSNAT(id string) []byte { return []byte("snat:" + id) }
func tagFwd(id string) []byte  { return []byte("fwd:" + id) }

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

// addConsumerFlow adds a flow's objects, chains and rules to the batch.
func (p *Pair) addConsumerFlow(c *nftables.Conn, t *nftables.Table, f Flow, mark uint32) {
	for _, n := range []string{ctrOrig(f.ID), ctrReply(f.ID), ctrNew(f.ID), ctrRej(f.ID)} {
		c.AddObj(&nftables.CounterObj{Table: t, Name: n})
	}
	c.AddChain(&nftables.Chain{Name: flowChain(f.ID), Table: t})
	c.AddChain(&nftables.Chain{Name: denyChain(f.ID), Table: t})
	p.fillConsumerFlow(c, t, f)
	l := p.ifName
	pLinkAP := netip.AddrPortFrom(p.pLink, f.ENI.Port())
	// Insert puts them before the generic drops.
	// The DNAT marks the connection with the flow's mark; SNAT and the
	// forward dispatch match the mark (cheaper than the original tuple).
	c.InsertRule(&nftables.Rule{Table: t, Chain: chainRef(t, chainPre), UserData: tagDNAT(f.ID),
		Exprs: cat(tcp(), daddr(f.ENI.Addr()), dport(f.ENI.Port()), setCtMark(mark), dnatTo(pLinkAP))})
	c.InsertRule(&nftables.Rule{Table: t, Chain: chainRef(t, chainPost), UserData: tagSNAT(f.ID),
		Exprs: cat(oif(l), ctMark(mark), snatTo(f.SNAT))})
	c.InsertRule(&nftables.Rule{Table: t, Chain: chainRef(t, chainFwd), UserData: tagFwd(f.ID),
		Exprs: cat(ctMark(mark), jump(flowChain(f.ID)))})
}

// fillConsumerFlow adds the rules of the flow's own (empty) chains.
func (p *Pair) fillConsumerFlow(c *nftables.Conn, t *nftables.Table, f Flow) {
	fc, dc := chainRef(t, flowChain(f.ID)), chainRef(t, denyChain(f.ID))
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
				v = gotoChain(denyChain(f.ID))
			}
			rule(c, t, fc, nil, cat(oif(l), saddrIn(r.Source), v))
		}
		rule(c, t, fc, nil, gotoChain(denyChain(f.ID)))
	}
	rule(c, t, fc, nil, cat(oif(l), acc))
	rule(c, t, fc, nil, drop)
	// Deny: count; a connection attempt is dropped (SG semantics), a packet
	// of a connection that was cut gets a reset.
	rule(c, t, dc, nil, counterRef(ctrRej(f.ID)))
	rule(c, t, dc, nil, cat(synOnly(), drop))
	rule(c, t, dc, nil, cat(tcp(), tcpReset()))
	rule(c, t, dc, nil, drop)
}

// addProviderFlow adds the provider-side DNAT of a flow to its backends.
func (p *Pair) addProviderFlow(c *nftables.Conn, t *nftables.Table, f Flow) error {
	bs := f.chosen(p.cfg.Zone)
	if len(bs) == 0 {
		return nil
	}
	pick, err := dnatPick(c, t, bs)
	if err != nil {
		return err
	}
	c.AddRule(&nftables.Rule{Table: t, Chain: chainRef(t, chainPre), UserData: tagDNAT(f.ID),
		Exprs: cat(iif(p.ifName), tcp(), saddr(f.SNAT), daddr(p.pLink), dport(f.ENI.Port()), pick)})
	return nil
}
