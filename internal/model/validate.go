package model

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]{0,127}$`)

// ValidateName checks a resource name: 1-128 chars, starts with a letter,
// letters, digits, '.', '_' and '-'. Empty is allowed when optional.
func ValidateName(field, s string, optional bool) error {
	if s == "" && optional {
		return nil
	}
	if !nameRE.MatchString(s) {
		return Invalid(field, "name %q must be 1-128 characters, start with a letter and contain only letters, digits, '.', '_' and '-'", s)
	}
	return nil
}

// MaxDescription is the longest description of a resource, in bytes.
const MaxDescription = 256

// ValidateDescription checks a free-text description: at most
// MaxDescription bytes of UTF-8 without control characters (it is shown in
// tables and consoles).
func ValidateDescription(field, s string) error {
	if len(s) > MaxDescription {
		return Invalid(field, "the description must be at most %d bytes, not %d", MaxDescription, len(s))
	}
	if !utf8.ValidString(s) {
		return Invalid(field, "the description must be UTF-8 text")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Invalid(field, "the description must not contain control characters such as %U", r)
		}
	}
	return nil
}

// ParseCIDR parses an IPv4 CIDR in canonical form with prefix 8..29.
func ParseCIDR(field, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, Invalid(field, "%q is not an IPv4 CIDR block like 192.168.0.0/16", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, Invalid(field, "%q has host bits set; did you mean %s?", s, p.Masked())
	}
	if p.Bits() < 8 || p.Bits() > 29 {
		return netip.Prefix{}, Invalid(field, "prefix length of %q must be between /8 and /29", s)
	}
	if !p.Addr().IsPrivate() || !Broadcast(p).IsPrivate() {
		return netip.Prefix{}, Invalid(field, "%q is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)", s)
	}
	return p, nil
}

// Contains reports whether inner lies entirely inside outer.
func Contains(outer, inner netip.Prefix) bool {
	return inner.Bits() >= outer.Bits() && outer.Contains(inner.Addr())
}

// Overlaps reports whether two prefixes share any address.
func Overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// Gateway is the first host address of a vSwitch CIDR.
func Gateway(p netip.Prefix) netip.Addr { return p.Addr().Next() }

// Broadcast is the last address of p.
func Broadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (1 << (32 - p.Bits())) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Reserved reports whether ip is the network, gateway or broadcast address of p.
func Reserved(p netip.Prefix, ip netip.Addr) bool {
	return ip == p.Addr() || ip == Gateway(p) || ip == Broadcast(p)
}

// ValidatePort checks 1..65535.
func ValidatePort(field string, p int) error {
	if p < 1 || p > 65535 {
		return Invalid(field, "port %d must be between 1 and 65535", p)
	}
	return nil
}

// ParsePortRange parses "6001", "6001-6002" or "6001/6002".
func ParsePortRange(s string) (lo, hi int, err error) {
	a, b, found := strings.Cut(strings.ReplaceAll(s, "-", "/"), "/")
	if !found {
		b = a
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, Invalid("PortRange", "port range %q must look like 6001/6001 within 1-65535", s)
	}
	return lo, hi, nil
}

// ParseBackend parses ZONE=IP[:PORT] (PORT omitted: the listener port).
func ParseBackend(s string) (Backend, error) {
	zone, addr, ok := strings.Cut(strings.TrimSpace(s), "=")
	zone, addr = strings.TrimSpace(zone), strings.TrimSpace(addr)
	if !ok || zone == "" {
		return Backend{}, Invalid("Resources", "backend %q must look like ZONE=IP:PORT, e.g. cn-hangzhou-h=192.168.1.10:6001", s)
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return Backend{ZoneID: zone, IP: ap.Addr(), Port: int(ap.Port())}, nil
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		return Backend{ZoneID: zone, IP: ip}, nil
	}
	return Backend{}, Invalid("Resources", "backend %q: %q is not IP:PORT", s, addr)
}
