package knat

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
)

// Reserved is the address range privlink keeps for kernel NAT links and
// per-endpoint SNAT sources. No VPC CIDR may overlap it.
var Reserved = netip.MustParsePrefix("100.127.0.0/16")

// Backend is one service backend in the provider VPC.
type Backend struct {
	Addr    netip.AddrPort
	Zone    string
	Healthy bool
}

// SGRule is one security group rule applied in the consumer VPC to the
// connections of a flow. Lower Priority first; drop before accept at equal
// priority; the first match decides.
type SGRule struct {
	Source   netip.Prefix
	PortLo   uint16 // ENI port range, inclusive
	PortHi   uint16
	Accept   bool
	Priority int
}

// Flow is one endpoint port forwarded in the kernel.
type Flow struct {
	// ID names the flow; it must be unique in a Pair ([A-Za-z0-9_.:-], ≤ 48).
	ID string
	// ENI is the endpoint's address and port in the consumer VPC.
	ENI netip.AddrPort
	// SNAT is the per-endpoint source address the provider sees; it must be
	// inside the Pair's SNAT prefix. Several flows of one endpoint (one per
	// port) may share it; (SNAT, ENI port) must be unique.
	SNAT netip.Addr
	// Backends in the provider VPC; only healthy ones are chosen, same-zone
	// ones first.
	Backends []Backend
	// SG is evaluated on new connections and on Apply for live ones. Empty
	// means no security group: every source is allowed. Non-empty means
	// first match decides and no match drops.
	SG []SGRule
	// RateBytes caps the flow's bandwidth in each direction, in bytes per
	// second; 0 means no cap.
	RateBytes uint64
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,48}$`)

// Error is a validation error with an Alibaba-style code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func invalid(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (f Flow) validate(snatPrefix netip.Prefix) error {
	if !idRE.MatchString(f.ID) {
		return invalid("InvalidFlowId.Malformed", "flow id %q must match %s", f.ID, idRE)
	}
	if !f.ENI.IsValid() || !f.ENI.Addr().Is4() || f.ENI.Port() == 0 {
		return invalid("InvalidENI.Malformed", "flow %s: ENI %v must be an IPv4 address and a non-zero port", f.ID, f.ENI)
	}
	if Reserved.Contains(f.ENI.Addr()) {
		return invalid("InvalidENI.Reserved", "flow %s: ENI %v is in the reserved range %v", f.ID, f.ENI, Reserved)
	}
	if !snatPrefix.Contains(f.SNAT) {
		return invalid("InvalidSNAT.OutOfRange", "flow %s: SNAT source %v is not in %v", f.ID, f.SNAT, snatPrefix)
	}
	for _, b := range f.Backends {
		if !b.Addr.IsValid() || !b.Addr.Addr().Is4() || b.Addr.Port() == 0 {
			return invalid("InvalidBackend.Malformed", "flow %s: backend %v must be an IPv4 address and a non-zero port", f.ID, b.Addr)
		}
		if Reserved.Contains(b.Addr.Addr()) {
			return invalid("InvalidBackend.Reserved", "flow %s: backend %v is in the reserved range %v", f.ID, b.Addr, Reserved)
		}
	}
	for _, r := range f.SG {
		if !r.Source.IsValid() || !r.Source.Addr().Is4() {
			return invalid("InvalidSecurityGroupRule.Source", "flow %s: source %v must be an IPv4 prefix", f.ID, r.Source)
		}
		if r.PortLo == 0 || r.PortHi < r.PortLo {
			return invalid("InvalidSecurityGroupRule.PortRange", "flow %s: port range %d-%d", f.ID, r.PortLo, r.PortHi)
		}
		if r.Priority < 1 || r.Priority > 100 {
			return invalid("InvalidSecurityGroupRule.Priority", "flow %s: priority %d must be 1..100", f.ID, r.Priority)
		}
	}
	return nil
}

// sortedSG returns the rules in evaluation order.
func sortedSG(rs []SGRule) []SGRule {
	out := slices.Clone(rs)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority < out[j].Priority
		}
		return !out[i].Accept && out[j].Accept
	})
	return out
}

// allows evaluates the flow's security group like the kernel rules do.
func (f Flow) allows(src netip.Addr) bool {
	if len(f.SG) == 0 {
		return true
	}
	port := f.ENI.Port()
	for _, r := range sortedSG(f.SG) {
		if port >= r.PortLo && port <= r.PortHi && r.Source.Masked().Contains(src) {
			return r.Accept
		}
	}
	return false
}

// chosen returns the backends the kernel picks from: the healthy ones in
// zone if any, else all healthy ones, in a stable order.
func (f Flow) chosen(zone string) []netip.AddrPort {
	var same, all []netip.AddrPort
	for _, b := range f.Backends {
		if !b.Healthy {
			continue
		}
		all = append(all, b.Addr)
		if zone != "" && b.Zone == zone {
			same = append(same, b.Addr)
		}
	}
	out := all
	if len(same) > 0 {
		out = same
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// checkFlows validates a desired set as a whole.
func checkFlows(flows []Flow, snatPrefix netip.Prefix) error {
	ids := map[string]bool{}
	enis := map[netip.AddrPort]string{}
	type sk struct {
		a netip.Addr
		p uint16
	}
	snats := map[sk]string{}
	for _, f := range flows {
		if err := f.validate(snatPrefix); err != nil {
			return err
		}
		if ids[f.ID] {
			return invalid("InvalidFlowId.Duplicate", "flow id %s given twice", f.ID)
		}
		ids[f.ID] = true
		if o, ok := enis[f.ENI]; ok {
			return invalid("InvalidENI.Duplicate", "flows %s and %s share ENI %v", o, f.ID, f.ENI)
		}
		enis[f.ENI] = f.ID
		k := sk{f.SNAT, f.ENI.Port()}
		if o, ok := snats[k]; ok {
			return invalid("InvalidSNAT.Duplicate", "flows %s and %s share SNAT %v and port %d", o, f.ID, f.SNAT, f.ENI.Port())
		}
		snats[k] = f.ID
	}
	return nil
}

func netipFromSlice(b []byte) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(b)
	return a.Unmap(), ok
}
