package model

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseCIDR(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"192.168.0.0/16", true}, {"10.0.0.0/8", true}, {"172.16.0.0/12", true}, {"10.1.2.0/29", true},
		{"10.0.0.1/16", false},    // host bits
		{"10.0.0.0/30", false},    // too small
		{"192.168.0.0/13", false}, // spills into public space
		{"8.8.0.0/16", false}, {"fd00::/64", false}, {"nonsense", false}, {"", false},
	} {
		_, err := ParseCIDR("CidrBlock", tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseCIDR(%q) error %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestReservedAndGateway(t *testing.T) {
	p := netip.MustParsePrefix("192.168.1.0/24")
	if Gateway(p).String() != "192.168.1.1" || Broadcast(p).String() != "192.168.1.255" {
		t.Fatalf("gateway %s broadcast %s", Gateway(p), Broadcast(p))
	}
	for ip, want := range map[string]bool{"192.168.1.0": true, "192.168.1.1": true, "192.168.1.255": true, "192.168.1.2": false} {
		if Reserved(p, netip.MustParseAddr(ip)) != want {
			t.Errorf("Reserved(%s) != %v", ip, want)
		}
	}
}

func TestSecurityGroupOrder(t *testing.T) {
	rule := func(src, ports, policy string, prio int) SecurityGroupRule {
		r, err := NormalizeRule(SecurityGroupRule{PortRange: ports, SourceCidr: src, Policy: policy, Priority: prio})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rs := CompileRules(SecurityGroup{Rules: []SecurityGroupRule{
		rule("10.0.0.0/8", "6001", "accept", 10),
		rule("10.0.1.0/24", "6001", "drop", 5), // higher priority (smaller number) wins
		rule("10.0.2.0/24", "6001-6002", "accept", 5),
		rule("10.0.2.7", "6001", "drop", 5), // drop before accept at equal priority
	}})
	for _, tc := range []struct {
		src  string
		port uint16
		want bool
	}{
		{"10.9.9.9", 6001, true}, {"10.0.1.5", 6001, false}, {"10.0.2.5", 6002, true},
		{"10.0.2.7", 6001, false}, {"10.9.9.9", 6002, false}, {"192.168.0.1", 6001, false},
	} {
		if got := rs.Allows(netip.MustParseAddr(tc.src), tc.port); got != tc.want {
			t.Errorf("Allows(%s, %d) = %v, want %v", tc.src, tc.port, got, tc.want)
		}
	}
	if CompileRules().Allows(netip.MustParseAddr("10.0.0.1"), 1) {
		t.Error("no rules must drop")
	}
}

func TestNamesAndIDs(t *testing.T) {
	n := Naming{Region: "cn-hangzhou", ServicePrefix: "com.privlink", DNSSuffix: "privatelink.internal"}
	svc, ep := NewID(PrefixService), NewID(PrefixEndpoint)
	if !ValidID(PrefixService, svc) || ValidID(PrefixEndpoint, svc) || len(ep) != len("ep-")+20 {
		t.Fatalf("ids %s %s", svc, ep)
	}
	if got := n.ServiceName(svc); got != "com.privlink.cn-hangzhou."+svc {
		t.Errorf("service name %s", got)
	}
	if got := n.ZoneDomain(ep, "cn-hangzhou-h", svc); got != ep+"-cn-hangzhou-h."+svc+".cn-hangzhou.privatelink.internal" {
		t.Errorf("zone domain %s", got)
	}
	for _, s := range []string{n.ServiceName(svc), n.ServiceDomain(svc), svc, strings.ToUpper(n.ServiceName(svc)) + "."} {
		if id, ok := ServiceIDFromName(s); !ok || id != svc {
			t.Errorf("ServiceIDFromName(%q) = %q %v", s, id, ok)
		}
	}
	if !ValidAccountID(NewAccountID()) || ValidAccountID("0123456789012345") || ValidAccountID("12") {
		t.Error("account IDs")
	}
}

func FuzzParsers(f *testing.F) {
	for _, s := range []string{"192.168.0.0/16", "cn-hangzhou-h=192.168.1.10:6001", "6001-6002", "z=1.2.3.4", "=", "10.0.0.0/8/8", "65535/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParseCIDR("CidrBlock", s); err == nil && (!p.Addr().IsPrivate() || p.Masked() != p) {
			t.Fatalf("ParseCIDR accepted %q", s)
		}
		if lo, hi, err := ParsePortRange(s); err == nil && (lo < 1 || hi > 65535 || lo > hi) {
			t.Fatalf("ParsePortRange(%q) = %d, %d", s, lo, hi)
		}
		if b, err := ParseBackend(s); err == nil && (b.ZoneID == "" || !b.IP.IsValid()) {
			t.Fatalf("ParseBackend(%q) = %+v", s, b)
		}
		_, _ = NormalizeRule(SecurityGroupRule{PortRange: s, SourceCidr: s, Protocol: s, Policy: s})
		_, _ = ServiceIDFromName(s)
	})
}

func TestQuotaFlags(t *testing.T) {
	want := map[string]string{"vpcs": "vpcs", "vSwitchesPerVpc": "vswitches-per-vpc", "rulesPerSecurityGroup": "rules-per-security-group",
		"endpointsPerVpc": "endpoints-per-vpc", "securityGroups": "security-groups"}
	for name, flag := range want {
		it, ok := QuotaItemNamed(name)
		if !ok || it.Flag() != flag {
			t.Errorf("%s: flag %q, want %q", name, it.Flag(), flag)
		}
	}
	q := DefaultQuota()
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	q.Vpcs = -1
	if q.Validate() == nil {
		t.Fatal("a negative quota validates")
	}
}
