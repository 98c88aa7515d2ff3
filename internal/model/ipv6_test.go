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
