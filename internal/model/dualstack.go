package model

import (
	"net/netip"
	"strings"
)

// Dual-stack endpoints (issue 16 item 2; docs/architecture.md, IPv6
// endpoints): a service declares its address families, and an endpoint of
// a dual-stack service gets, in each zone whose vSwitch has a /64, an IPv6
// ENI next to its IPv4 one.

// Address families of a service (Alibaba's AddressIpVersion).
const (
	AddressIPv4      = "ipv4"
	AddressDualStack = "dualstack"
)

// CodeAddressIPVersion is the code of a bad addressIpVersion.
const CodeAddressIPVersion = "InvalidParameter.AddressIpVersion"

// ParseAddressIPVersion reads a service's address families: "" (ipv4),
// ipv4 or dualstack in any case (Alibaba spells them IPv4, DualStack).
func ParseAddressIPVersion(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", AddressIPv4:
		return AddressIPv4, nil
	case AddressDualStack:
		return AddressDualStack, nil
	}
	return "", Errorf(statusBadRequest, CodeAddressIPVersion, "addressIpVersion %q must be ipv4 or dualstack", s)
}

// DualStack reports whether s serves IPv6 next to IPv4.
func (s *EndpointService) DualStack() bool {
	return s != nil && s.AddressIPVersion == AddressDualStack
}

// IPVersion is s's address families; ipv4 on records from before the
// choice existed.
func (s *EndpointService) IPVersion() string {
	if s.DualStack() {
		return AddressDualStack
	}
	return AddressIPv4
}

// ServesIPv6 reports whether z's IPv6 ENI carries traffic and DNS for
// svc: the zone has one and the service is (still) dual-stack.
func (z EndpointZone) ServesIPv6(svc *EndpointService) bool {
	return z.Ipv6Address.IsValid() && svc.DualStack()
}

// Addrs are z's ENI addresses that serve svc: the IPv4 one and, when it
// serves IPv6, the IPv6 one.
func (z EndpointZone) Addrs(svc *EndpointService) []netip.Addr {
	if z.ServesIPv6(svc) {
		return []netip.Addr{z.IP, z.Ipv6Address}
	}
	return []netip.Addr{z.IP}
}

// ParseENIIPv6 parses an endpoint zone's requested IPv6 address ("" =
// choose).
func ParseENIIPv6(s string) (netip.Addr, error) {
	ip, err := ParseHostIPv6(s)
	if err != nil {
		return ip, Errorf(statusBadRequest, "InvalidParameter.Zones.Ipv6Address", "%q is not an IPv6 address", s)
	}
	return ip, nil
}
