package model

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// NormalizeRule validates a rule and returns it in canonical form.
func NormalizeRule(r SecurityGroupRule) (SecurityGroupRule, error) {
	r.Protocol = strings.ToLower(r.Protocol)
	if r.Protocol == "" {
		r.Protocol = "tcp"
	}
	if r.Protocol != "tcp" && r.Protocol != "udp" && r.Protocol != "all" {
		return r, Invalid("IpProtocol", "protocol %q must be tcp, udp or all", r.Protocol)
	}
	if r.Protocol == "all" && r.PortRange == "" {
		r.PortRange = "1/65535"
	}
	lo, hi, err := ParsePortRange(r.PortRange)
	if err != nil {
		return r, err
	}
	r.PortRange = strconv.Itoa(lo) + "/" + strconv.Itoa(hi)
	if r.SourceCidr == "" {
		return r, Invalid("SourceCidrIp", "source CIDR is required (0.0.0.0/0 for any)")
	}
	p, err := netip.ParsePrefix(r.SourceCidr)
	if err != nil {
		a, aerr := netip.ParseAddr(r.SourceCidr)
		if aerr != nil {
			return r, Invalid("SourceCidrIp", "source %q is not an IPv4 or IPv6 CIDR", r.SourceCidr)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return r, Invalid("SourceCidrIp", "source %q: give IPv4 prefixes as a.b.c.d/n and IPv6 ones without zone", r.SourceCidr)
	}
	r.SourceCidr = p.Masked().String()
	r.Policy = strings.ToLower(r.Policy)
	if r.Policy == "" {
		r.Policy = "accept"
	}
	if r.Policy != "accept" && r.Policy != "drop" {
		return r, Invalid("Policy", "policy %q must be accept or drop", r.Policy)
	}
	if r.Priority == 0 {
		r.Priority = 1
	}
	if r.Priority < 1 || r.Priority > 100 {
		return r, Invalid("Priority", "priority %d must be between 1 and 100", r.Priority)
	}
	return r, nil
}

// RuleSet is a compiled, ordered set of inbound rules from one or more groups.
type RuleSet []compiledRule

type compiledRule struct {
	src    netip.Prefix
	lo, hi uint16
	accept bool
	prio   int
	udp    bool // a udp rule (Allows skips it)
	tcp    bool // a tcp rule (AllowsUDP skips it)
}

// CompileRules merges the rules of the given groups: lower priority number
// first, and drop before accept at equal priority (Alibaba's order).
func CompileRules(groups ...SecurityGroup) RuleSet {
	var rs RuleSet
	for _, g := range groups {
		for _, r := range g.Rules {
			p, err := netip.ParsePrefix(r.SourceCidr)
			lo, hi, err2 := ParsePortRange(r.PortRange)
			if err != nil || err2 != nil {
				continue
			}
			rs = append(rs, compiledRule{src: p, lo: uint16(lo), hi: uint16(hi), accept: r.Policy == "accept", prio: r.Priority,
				udp: r.Protocol == "udp", tcp: r.Protocol == "tcp" || r.Protocol == ""})
		}
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].prio != rs[j].prio {
			return rs[i].prio < rs[j].prio
		}
		return !rs[i].accept && rs[j].accept
	})
	return rs
}

// Allows reports whether a TCP connection from src to port is accepted: the
// first matching rule decides; no matching rule means drop.
func (rs RuleSet) Allows(src netip.Addr, port uint16) bool {
	src = src.Unmap()
	for _, r := range rs {
		if !r.udp && port >= r.lo && port <= r.hi && r.src.Contains(src) {
			return r.accept
		}
	}
	return false
}

// AllowsUDP reports whether a UDP flow from src to port is accepted: as
// Allows, over the udp and all rules.
func (rs RuleSet) AllowsUDP(src netip.Addr, port uint16) bool {
	src = src.Unmap()
	for _, r := range rs {
		if !r.tcp && port >= r.lo && port <= r.hi && r.src.Contains(src) {
			return r.accept
		}
	}
	return false
}
