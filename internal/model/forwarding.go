package model

import (
	"net/netip"
	"strings"
)

// Forwarding modes of an endpoint service (EndpointService.Forwarding).
const (
	// ForwardProxy terminates every connection in the zone agent's proxy
	// (the default, and what records without the field mean).
	ForwardProxy = "proxy"
	// ForwardNAT forwards in the kernel: nftables NAT and conntrack between
	// the consumer and the provider VPC routers (internal/knat).
	ForwardNAT = "nat"
	// ForwardAuto is NAT unless the service uses what only the proxy
	// gives (NATNeedsProxy).
	ForwardAuto = "auto"
)

// SNATPool is where the control plane allocates each endpoint's kernel
// NAT source address (Endpoint.SnatIP): the upper half of knat's reserved
// range 100.127.0.0/16 (the agent takes the link /30s from the lower
// half). No VPC CIDR can overlap it (VPCs are RFC 1918 only).
var SNATPool = netip.MustParsePrefix("100.127.128.0/17")

// SNATPoolKey is the pseudo vSwitch ID under which SNAT addresses are
// claimed in the IPAM keys (ipam/snat/<ip>).
const SNATPoolKey = "snat"

// ValidForwarding reports whether s is a forwarding mode ("" = proxy).
func ValidForwarding(s string) bool {
	switch s {
	case "", ForwardProxy, ForwardNAT, ForwardAuto:
		return true
	}
	return false
}

// NATNeedsProxy names the service settings only the proxy path provides,
// comma-separated ("" = none): the PROXY protocol header (the kernel does
// not write into the stream), and the per-endpoint connection limits
// maxConnectionsPerEndpoint and newConnectionsPerSecond (counted by the
// proxy), and a dualstack address family (the kernel NAT pair is IPv4
// only). A service with any of them cannot use nat and auto picks proxy.
// The proxy's other extra, trying another backend when a connect fails,
// is not a setting: under nat a failed backend is left out by the next
// health check (2 s) instead. idleTimeoutSeconds does not apply under nat
// (conntrack's own TCP timeouts do).
func NATNeedsProxy(s *EndpointService) string {
	var why []string
	if s.ProxyProtocol {
		why = append(why, "proxyProtocolEnabled")
	}
	if s.MaxConnsPerEndpoint > 0 {
		why = append(why, "maxConnectionsPerEndpoint")
	}
	if s.NewConnsPerSecond > 0 {
		why = append(why, "newConnectionsPerSecond")
	}
	if s.DualStack() { // the kernel NAT pair is IPv4 only
		why = append(why, "addressIpVersion=dualstack")
	}
	return strings.Join(why, ",")
}

// EffectiveForwarding is the mode the agents use for s: proxy or nat. A
// service on the host network (no VPC) always uses the proxy.
func EffectiveForwarding(s *EndpointService) string {
	switch s.Forwarding {
	case ForwardNAT:
		if s.VpcID != "" && NATNeedsProxy(s) == "" {
			return ForwardNAT
		}
	case ForwardAuto:
		if s.VpcID != "" && NATNeedsProxy(s) == "" {
			return ForwardNAT
		}
	}
	return ForwardProxy
}
