package model

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// TestParseVPCIPv6CIDR: a user-given VPC IPv6 CIDR must be a masked ULA
// /56; each kind of bad input has its own code.
func TestParseVPCIPv6CIDR(t *testing.T) {
	for _, tc := range []struct{ in, code string }{
		{"fd12:3456:789a::/56", ""},
		{"fc00:1:2:300::/56", ""},
		{"", CodeIPv6Malformed},
		{"banana", CodeIPv6Malformed},
		{"10.0.0.0/8", CodeIPv6Malformed},
		{"::ffff:10.0.0.0/104", CodeIPv6Malformed},
		{"fd12:3456:789a:1::/56", CodeIPv6Malformed}, // host bits
		{"fd12:3456:789a::/48", CodeIPv6PrefixLength},
		{"fd12:3456:789a::/64", CodeIPv6PrefixLength},
		{"2001:db8:0:100::/56", CodeIPv6NotULA},
		{"fe80::/56", CodeIPv6NotULA},
	} {
		p, err := ParseVPCIPv6CIDR(tc.in)
		var e *Error
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.code == "" && p.String() != tc.in:
			t.Errorf("%q parsed as %s", tc.in, p)
		case tc.code != "" && (!errors.As(err, &e) || e.Code != tc.code || e.Status != 400):
			t.Errorf("%q: got %v, want code %s", tc.in, err, tc.code)
		}
	}
}

// TestRandomULA56: fd + the 40 random bits + a zero subnet byte, /56; its
// /64s by index and their gateways.
func TestRandomULA56(t *testing.T) {
	p, err := RandomULA56(bytes.NewReader([]byte{0x12, 0x34, 0x56, 0x78, 0x9a}))
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParsePrefix("fd12:3456:789a::/56"); p != want {
		t.Fatalf("got %s, want %s", p, want)
	}
	if _, err := ParseVPCIPv6CIDR(p.String()); err != nil {
		t.Fatalf("a chosen CIDR is refused as input: %v", err)
	}
	if _, err := RandomULA56(bytes.NewReader([]byte{1, 2})); err == nil {
		t.Fatal("short randomness accepted")
	}
	for _, tc := range []struct {
		i    int
		want string
	}{{0, "fd12:3456:789a::/64"}, {1, "fd12:3456:789a:1::/64"}, {255, "fd12:3456:789a:ff::/64"}} {
		s, err := VSwitchIPv6CIDR(p, tc.i)
		if err != nil || s.String() != tc.want || VSwitchIPv6Index(s) != tc.i {
			t.Errorf("index %d: %v %v, want %s", tc.i, s, err, tc.want)
		}
	}
	for _, i := range []int{-1, 256} {
		var e *Error
		if _, err := VSwitchIPv6CIDR(p, i); !errors.As(err, &e) || e.Code != CodeIPv6IndexRange {
			t.Errorf("index %d: %v", i, err)
		}
	}
	s, _ := VSwitchIPv6CIDR(p, 3)
	if gw := IPv6Gateway(s); gw.String() != "fd12:3456:789a:3::1" || !ReservedIPv6(s, gw) || !ReservedIPv6(s, s.Addr()) || ReservedIPv6(s, gw.Next()) {
		t.Fatalf("gateway %s of %s", gw, s)
	}
}

// TestIPv6RecordValidation: records read from the store with bad IPv6
// fields are refused (the store then skips them); good ones and IPv4-only
// ones pass.
func TestIPv6RecordValidation(t *testing.T) {
	v4 := netip.MustParsePrefix("10.0.0.0/24")
	sub := netip.MustParsePrefix("fd12:3456:789a:1::/64")
	vpcID := NewID(PrefixVPC)
	vsw := func(p netip.Prefix, gw netip.Addr) *VSwitch {
		return &VSwitch{VSwitchID: NewID(PrefixVSwitch), AccountID: "1000000000000000", VpcID: vpcID, ZoneID: "z", CidrBlock: v4, Gateway: Gateway(v4),
			Ipv6CidrBlock: p, Ipv6Gateway: gw}
	}
	vpc := func(p netip.Prefix) *VPC {
		return &VPC{VpcID: vpcID, AccountID: "1000000000000000", CidrBlock: netip.MustParsePrefix("10.0.0.0/16"), Ipv6CidrBlock: p}
	}
	for _, tc := range []struct {
		name string
		rec  interface{ Validate() error }
		ok   bool
	}{
		{"ipv4-only vpc", vpc(netip.Prefix{}), true},
		{"dual-stack vpc", vpc(netip.MustParsePrefix("fd12:3456:789a::/56")), true},
		{"vpc /64", vpc(sub), false},
		{"vpc ipv4 as ipv6", vpc(netip.MustParsePrefix("10.0.0.0/8")), false},
		{"ipv4-only vswitch", vsw(netip.Prefix{}, netip.Addr{}), true},
		{"dual-stack vswitch", vsw(sub, IPv6Gateway(sub)), true},
		{"vswitch without v6 gateway", vsw(sub, netip.Addr{}), false},
		{"vswitch gateway not ::1", vsw(sub, IPv6Gateway(sub).Next()), false},
		{"vswitch /56", vsw(netip.MustParsePrefix("fd12:3456:789a::/56"), netip.MustParseAddr("fd12:3456:789a::1")), false},
	} {
		if err := tc.rec.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
