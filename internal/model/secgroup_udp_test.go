package model

import (
	"net/netip"
	"testing"
)

// TestRulesPerProtocol: tcp rules admit TCP only, udp rules UDP only, all
// rules both.
func TestRulesPerProtocol(t *testing.T) {
	rule := func(proto, port string) SecurityGroupRule {
		r, err := NormalizeRule(SecurityGroupRule{Protocol: proto, PortRange: port, SourceCidr: "10.0.0.0/8"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rs := CompileRules(SecurityGroup{Rules: []SecurityGroupRule{rule("tcp", "80"), rule("UDP", "53"), rule("all", "1000/1001")}})
	src := netip.MustParseAddr("10.1.2.3")
	for _, tc := range []struct {
		port     uint16
		tcp, udp bool
	}{{80, true, false}, {53, false, true}, {1000, true, true}, {443, false, false}} {
		if got := rs.Allows(src, tc.port); got != tc.tcp {
			t.Errorf("TCP %d: %v, want %v", tc.port, got, tc.tcp)
		}
		if got := rs.AllowsUDP(src, tc.port); got != tc.udp {
			t.Errorf("UDP %d: %v, want %v", tc.port, got, tc.udp)
		}
	}
	if rs.AllowsUDP(netip.MustParseAddr("192.168.0.1"), 53) {
		t.Error("UDP from outside the rule's source allowed")
	}
	if _, err := NormalizeRule(SecurityGroupRule{Protocol: "icmp", PortRange: "1", SourceCidr: "0.0.0.0/0"}); err == nil {
		t.Error("icmp rule accepted")
	}
}
