package model

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Validate methods check a record as read from the store: the store calls
// them on every value it decodes and skips (and counts) a record that
// fails, so the rest of privlink may rely on every ID, address and port of
// a record it is handed.

// Validate checks an account record.
func (a *Account) Validate() error {
	return errors.Join(account(a.AccountID), nonEmpty("name", a.Name))
}

// Validate checks a VPC record.
func (v *VPC) Validate() error {
	err := errors.Join(id(PrefixVPC, v.VpcID), account(v.AccountID), prefix4("cidrBlock", v.CidrBlock))
	if err == nil && v.VNI != 0 && !ValidVNI(v.VNI) {
		err = fmt.Errorf("vni %d is out of 1..%d", v.VNI, MaxVNI)
	}
	if err == nil {
		err = validIPv6("ipv6CidrBlock", v.Ipv6CidrBlock, VPCIPv6Bits)
	}
	return err
}

// Validate checks a vSwitch record.
func (v *VSwitch) Validate() error {
	err := errors.Join(id(PrefixVSwitch, v.VSwitchID), account(v.AccountID), id(PrefixVPC, v.VpcID),
		nonEmpty("zoneId", v.ZoneID), prefix4("cidrBlock", v.CidrBlock))
	if err == nil && (!v.CidrBlock.Contains(v.Gateway) || v.Gateway == v.CidrBlock.Addr()) {
		err = fmt.Errorf("gatewayIp %s is not a host address of %s", v.Gateway, v.CidrBlock)
	}
	if err == nil {
		err = validIPv6("ipv6CidrBlock", v.Ipv6CidrBlock, VSwitchIPv6Bits)
	}
	if err == nil && v.Ipv6CidrBlock.IsValid() != v.Ipv6Gateway.IsValid() || v.Ipv6Gateway.IsValid() && v.Ipv6Gateway != IPv6Gateway(v.Ipv6CidrBlock) {
		err = errors.Join(err, fmt.Errorf("ipv6GatewayIp %v is not the ::1 of %v", v.Ipv6Gateway, v.Ipv6CidrBlock))
	}
	return err
}

// Validate checks a security group record; its rules must be normalized.
func (g *SecurityGroup) Validate() error {
	errs := []error{id(PrefixSG, g.SecurityGroupID), account(g.AccountID), id(PrefixVPC, g.VpcID)}
	for _, r := range g.Rules {
		if n, err := NormalizeRule(r); err != nil || n != r {
			errs = append(errs, fmt.Errorf("rule %+v is not a normalized rule", r))
		}
	}
	return errors.Join(errs...)
}

// Validate checks a host record.
func (h *Host) Validate() error {
	err := errors.Join(id(PrefixHost, h.HostID), account(h.AccountID), id(PrefixVPC, h.VpcID),
		id(PrefixVSwitch, h.VSwitchID), nonEmpty("zoneId", h.ZoneID), addr4("privateIpAddress", h.IP))
	if err == nil && h.NodeName != "" {
		err = nodeName(h.NodeName)
	}
	if err == nil && h.Ipv6Address.IsValid() && (!h.Ipv6Address.Is6() || h.Ipv6Address.Is4In6()) {
		err = fmt.Errorf("ipv6Address %v is not an IPv6 address", h.Ipv6Address)
	}
	return err
}

// Validate checks an endpoint service record.
func (s *EndpointService) Validate() error {
	errs := []error{id(PrefixService, s.ServiceID), account(s.AccountID), nonEmpty("serviceName", s.Name)}
	if s.VpcID != "" {
		errs = append(errs, id(PrefixVPC, s.VpcID))
	}
	for _, p := range s.Ports {
		errs = append(errs, port("ports", p, false))
	}
	for _, p := range s.UDPPorts {
		errs = append(errs, port("udpPorts", p, false))
	}
	if s.UDPIdleTimeout < 0 {
		errs = append(errs, errors.New("udpIdleTimeoutSeconds must not be negative"))
	}
	for _, b := range s.Resources {
		errs = append(errs, addrAny("backend ip", b.IP), nonEmpty("backend zoneId", b.ZoneID), port("backend port", b.Port, true))
	}
	if v := s.AddressIPVersion; v != "" && v != AddressIPv4 && v != AddressDualStack {
		errs = append(errs, fmt.Errorf("addressIpVersion %q is not ipv4 or dualstack", v))
	}
	for _, a := range s.AllowedAccounts {
		errs = append(errs, account(a))
	}
	for _, l := range s.LoadBalancerIDs {
		errs = append(errs, id(PrefixLB, l))
	}
	errs = append(errs, ValidateProxyTLVs("proxyProtocolTlvs", s.ProxyProtocolTLVs))
	if !ValidForwarding(s.Forwarding) {
		errs = append(errs, fmt.Errorf("forwarding %q must be proxy, nat or auto", s.Forwarding))
	}
	if s.ConnectBandwidth < 0 || s.IdleTimeout < 0 || s.MaxConnsPerEndpoint < 0 || s.NewConnsPerSecond < 0 {
		errs = append(errs, errors.New("connectBandwidth, idleTimeoutSeconds, maxConnectionsPerEndpoint and newConnectionsPerSecond must not be negative"))
	}
	return errors.Join(errs...)
}

// Validate checks an endpoint record.
func (e *Endpoint) Validate() error {
	errs := []error{id(PrefixEndpoint, e.EndpointID), account(e.AccountID), id(PrefixService, e.ServiceID), id(PrefixVPC, e.VpcID)}
	if e.ConnectionBandwidth < 0 {
		errs = append(errs, errors.New("connectionBandwidth must not be negative"))
	}

	for _, sg := range e.SecurityGroupIDs {
		errs = append(errs, id(PrefixSG, sg))
	}
	for _, z := range e.Zones {
		errs = append(errs, nonEmpty("zoneId", z.ZoneID), id(PrefixVSwitch, z.VSwitchID), addr4("zone ip", z.IP))
		if z.SnatIP.IsValid() && !SNATPool.Contains(z.SnatIP) {
			errs = append(errs, fmt.Errorf("zone snatIp %s is not in %s", z.SnatIP, SNATPool))
		}
		if a := z.Ipv6Address; a.IsValid() && (!a.Is6() || a.Is4In6() || a.Zone() != "") {
			errs = append(errs, fmt.Errorf("zone ipv6Address %v is not an IPv6 address", a))
		}
	}
	return errors.Join(errs...)
}

// Validate checks a zone agent's report.
func (r *ZoneReport) Validate() error {
	return errors.Join(id(PrefixEndpoint, r.EndpointID), nonEmpty("zoneId", r.ZoneID))
}

// Validate checks a zone agent's liveness record.
func (a *AgentInfo) Validate() error { return nonEmpty("zoneId", a.ZoneID) }

func id(prefix, s string) error {
	if !ValidID(prefix, s) {
		return fmt.Errorf("%q is not a %s<20 base32 characters> ID", s, prefix)
	}
	return nil
}

func account(s string) error {
	if !ValidAccountID(s) {
		return fmt.Errorf("%q is not a 16-digit account ID", s)
	}
	return nil
}

func nonEmpty(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", field)
	}
	return nil
}

func addr4(field string, a netip.Addr) error {
	if !a.Is4() {
		return fmt.Errorf("%s %v is not an IPv4 address", field, a)
	}
	return nil
}

// addrAny accepts an IPv4 or an IPv6 address (not mapped, no zone).
func addrAny(field string, a netip.Addr) error {
	if a.Is4() || a.Is6() && !a.Is4In6() && a.Zone() == "" {
		return nil
	}
	return fmt.Errorf("%s %v is not an IPv4 or IPv6 address", field, a)
}

func prefix4(field string, p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is4() || p.Masked() != p || p.Bits() > 30 {
		return fmt.Errorf("%s %v is not a masked IPv4 prefix of /30 or larger", field, p)
	}
	return nil
}

func port(field string, p int, zeroOK bool) error {
	if (p == 0 && zeroOK) || (p >= 1 && p <= 65535) {
		return nil
	}
	return fmt.Errorf("%s %d is out of range", field, p)
}

// Admits reports whether account may have a connected endpoint of the
// service: its provider or an allow-listed account.
func (s *EndpointService) Admits(account string) bool {
	return account == s.AccountID || slices.Contains(s.AllowedAccounts, account)
}

// Owner, ID and (for what lives in a VPC) VPC name a resource's account,
// ID and VPC, so the API can serve every kind with the same code.

func (v VPC) Owner() string { return v.AccountID }
func (v VPC) ID() string    { return v.VpcID }

func (v VSwitch) Owner() string { return v.AccountID }
func (v VSwitch) ID() string    { return v.VSwitchID }
func (v VSwitch) VPC() string   { return v.VpcID }

func (g SecurityGroup) Owner() string { return g.AccountID }
func (g SecurityGroup) ID() string    { return g.SecurityGroupID }
func (g SecurityGroup) VPC() string   { return g.VpcID }

func (h Host) Owner() string { return h.AccountID }
func (h Host) ID() string    { return h.HostID }
func (h Host) VPC() string   { return h.VpcID }

func (s EndpointService) Owner() string { return s.AccountID }
func (s EndpointService) ID() string    { return s.ServiceID }

func (e Endpoint) Owner() string { return e.AccountID }
func (e Endpoint) ID() string    { return e.EndpointID }
func (e Endpoint) VPC() string   { return e.VpcID }
