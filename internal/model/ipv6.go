package model

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// IPv6 dual-stack networks (docs/architecture.md, IPv6): a VPC may have a
// /56 unique local (ULA) prefix, each of its vSwitches a /64 out of it
// (by index 0-255, as Alibaba's vSwitch Ipv6CidrBlock), and each host of a
// dual-stack vSwitch an address of each family.

// IPv6 prefix lengths of VPCs and vSwitches.
const (
	VPCIPv6Bits     = 56
	VSwitchIPv6Bits = 64
	// MaxVSwitchIPv6Index is the last /64 index of a VPC's /56.
	MaxVSwitchIPv6Index = 255
)

// ULARange is where user-given VPC IPv6 CIDRs must lie (RFC 4193); the
// control plane chooses its own out of fd00::/8 (locally assigned).
var ULARange = netip.MustParsePrefix("fc00::/7")

// Error codes of bad IPv6 input.
const (
	CodeIPv6Malformed    = "InvalidIpv6CidrBlock.Malformed"
	CodeIPv6NotULA       = "InvalidIpv6CidrBlock.NotUla"
	CodeIPv6PrefixLength = "InvalidIpv6CidrBlock.PrefixLength"
	CodeIPv6IndexRange   = "InvalidIpv6CidrBlock.OutOfRange"
	CodeIPv6Overlapped   = "InvalidIpv6CidrBlock.Overlapped"
	CodeIPv6NotEnabled   = "InvalidVpc.Ipv6NotEnabled"
	CodeIPv6Enabled      = "InvalidVpc.Ipv6AlreadyEnabled"
	CodeIPv6Address      = "InvalidIpv6Address.Malformed"
)

// ParseVPCIPv6CIDR parses a user-given VPC IPv6 CIDR: a masked /56 inside
// fc00::/7.
func ParseVPCIPv6CIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return netip.Prefix{}, Errorf(statusBadRequest, CodeIPv6Malformed, "%q is not an IPv6 CIDR block like fd12:3456:789a::/56", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, Errorf(statusBadRequest, CodeIPv6Malformed, "%q has host bits set; did you mean %s?", s, p.Masked())
	}
	if p.Bits() != VPCIPv6Bits {
		return netip.Prefix{}, Errorf(statusBadRequest, CodeIPv6PrefixLength, "a VPC's IPv6 CIDR block must be a /%d, not /%d", VPCIPv6Bits, p.Bits())
	}
	if !ULARange.Contains(p.Addr()) {
		return netip.Prefix{}, Errorf(statusBadRequest, CodeIPv6NotULA, "%q is not a unique local range (inside %s)", s, ULARange)
	}
	return p, nil
}

// RandomULA56 is a /56 of fd00::/8 with a random 40-bit global ID read
// from r (RFC 4193 §3.2) and the first 8 bits of the subnet ID zero: the
// VPC's 256 vSwitch /64s are its remaining 8 subnet bits.
func RandomULA56(r io.Reader) (netip.Prefix, error) {
	var id [5]byte
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return netip.Prefix{}, fmt.Errorf("random ULA global ID: %w", err)
	}
	var a [16]byte
	a[0] = 0xfd
	copy(a[1:6], id[:])
	return netip.PrefixFrom(netip.AddrFrom16(a), VPCIPv6Bits), nil
}

// VSwitchIPv6CIDR is the /64 number index (0..255) of a VPC's /56.
func VSwitchIPv6CIDR(vpc netip.Prefix, index int) (netip.Prefix, error) {
	if index < 0 || index > MaxVSwitchIPv6Index {
		return netip.Prefix{}, Errorf(statusBadRequest, CodeIPv6IndexRange, "ipv6CidrBlock %d must be between 0 and %d (the /64 of the VPC's /56)", index, MaxVSwitchIPv6Index)
	}
	a := vpc.Masked().Addr().As16()
	a[7] = byte(index)
	return netip.PrefixFrom(netip.AddrFrom16(a), VSwitchIPv6Bits), nil
}

// VSwitchIPv6Index is the index of a vSwitch /64 in its VPC's /56.
func VSwitchIPv6Index(p netip.Prefix) int { return int(p.Addr().As16()[7]) }

// IPv6Gateway is the gateway of a vSwitch /64: its ::1.
func IPv6Gateway(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// ReservedIPv6 reports whether ip is the subnet-router anycast (::) or the
// gateway (::1) of p.
func ReservedIPv6(p netip.Prefix, ip netip.Addr) bool {
	return ip == p.Masked().Addr() || ip == IPv6Gateway(p)
}

// ParseHostIPv6 parses a host's requested IPv6 address ("" = choose).
func ParseHostIPv6(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" {
		return netip.Addr{}, Errorf(statusBadRequest, CodeIPv6Address, "%q is not an IPv6 address", s)
	}
	return ip, nil
}

// validIPv6 checks the optional IPv6 prefix of a record: zero, or masked
// IPv6 of exactly bits.
func validIPv6(field string, p netip.Prefix, bits int) error {
	if !p.IsValid() {
		return nil
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() || p.Masked() != p || p.Bits() != bits {
		return fmt.Errorf("%s %v is not a masked IPv6 /%s", field, p, strconv.Itoa(bits))
	}
	return nil
}
