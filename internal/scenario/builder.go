package scenario

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

// Builder creates resources as the provider's and the consumer's accounts.
// Its methods may be called concurrently (the benchmark creates endpoints
// from several goroutines) as long as Progress may be too.
type Builder struct {
	Provider, Consumer     *client.Client
	ProviderID, ConsumerID string
	Progress               func(Event) // optional
}

// NewBuilder creates the two accounts with the admin's client.
func NewBuilder(ctx context.Context, admin *client.Client, providerName, consumerName string) (*Builder, error) {
	prov, pa, err := admin.CreateAccountClient(ctx, providerName)
	if err != nil {
		return nil, fmt.Errorf("create provider account %s: %w", providerName, err)
	}
	cons, ca, err := admin.CreateAccountClient(ctx, consumerName)
	if err != nil {
		return nil, fmt.Errorf("create consumer account %s: %w", consumerName, err)
	}
	return &Builder{Provider: prov, Consumer: cons, ProviderID: pa.AccountID, ConsumerID: ca.AccountID}, nil
}

// Network is what Builder.Network made: a VPC, its vSwitches and hosts in
// the order of the spec, and its security group (zero if none).
type Network struct {
	VPC       model.VPC
	VSwitches []model.VSwitch
	SG        model.SecurityGroup
	Hosts     []model.Host
}

// Network creates a VPC with its vSwitches, security group and hosts, in
// that order, as side's account.
func (b *Builder) Network(ctx context.Context, side Side, spec NetworkSpec) (Network, error) {
	c := b.Provider
	if side == ConsumerSide {
		c = b.Consumer
	}
	var n Network
	var err error
	if n.VPC, err = c.CreateVPC(ctx, api.CreateVPCRequest{Name: spec.Name, CidrBlock: spec.CIDR, EnableIpv6: spec.IPv6}); err != nil {
		return n, fmt.Errorf("create %s VPC %s: %w", side, spec.Name, err)
	}
	b.report(side, KindVPC, n.VPC.VpcID, n.VPC)
	for _, vs := range spec.VSwitches {
		cidr, err := Subnet(spec.CIDR, vs.Subnet)
		if err != nil {
			return n, fmt.Errorf("%s VPC %s: %w", side, spec.Name, err)
		}
		req := api.CreateVSwitchRequest{VpcID: n.VPC.VpcID, ZoneID: vs.ZoneID, CidrBlock: cidr}
		if spec.IPv6 {
			req.Ipv6CidrBlock = &vs.Subnet
		}
		vsw, err := c.CreateVSwitch(ctx, req)
		if err != nil {
			return n, fmt.Errorf("create %s vSwitch %s in %s: %w", side, cidr, vs.ZoneID, err)
		}
		n.VSwitches = append(n.VSwitches, vsw)
		b.report(side, KindVSwitch, vsw.VSwitchID, vsw)
	}
	if sg := spec.SecurityGroup; sg != nil {
		if n.SG, err = c.CreateSecurityGroup(ctx, api.CreateSecurityGroupRequest{VpcID: n.VPC.VpcID, Name: sg.Name, Rules: sg.Rules}); err != nil {
			return n, fmt.Errorf("create %s security group %s: %w", side, sg.Name, err)
		}
		b.report(side, KindSecurityGroup, n.SG.SecurityGroupID, n.SG)
	}
	for _, hs := range spec.Hosts {
		if hs.VSwitch < 0 || hs.VSwitch >= len(n.VSwitches) {
			return n, fmt.Errorf("%s host %s: no vSwitch #%d", side, hs.Name, hs.VSwitch)
		}
		h, err := c.CreateHost(ctx, api.CreateHostRequest{VSwitchID: n.VSwitches[hs.VSwitch].VSwitchID, Name: hs.Name, NodeName: hs.Node})
		if err != nil {
			return n, fmt.Errorf("create %s host %s: %w", side, hs.Name, err)
		}
		n.Hosts = append(n.Hosts, h)
		b.report(side, KindHost, h.HostID, h)
	}
	return n, nil
}

// Publish creates an endpoint service in the provider network, allow-listing
// the consumer.
func (b *Builder) Publish(ctx context.Context, provider Network, spec ServiceSpec) (model.EndpointService, error) {
	backends := spec.Backends
	if backends == nil {
		for _, h := range provider.Hosts {
			ip := h.IP
			if spec.IPv6Backends {
				ip = h.Ipv6Address
			}
			backends = append(backends, api.BackendSpec{ZoneID: h.ZoneID, IP: ip.String(), Port: spec.BackendPort})
		}
	}
	svc, err := b.Provider.CreateService(ctx, api.CreateServiceRequest{
		Description: spec.Description, VpcID: provider.VPC.VpcID, Ports: spec.Ports, UDPPorts: spec.UDPPorts, Resources: backends,
		AutoAcceptEnabled: spec.AutoAccept, ZoneAffinityEnabled: spec.ZoneAffinity, ProxyProtocol: spec.ProxyProtocol,
		ProxyProtocolTLVs: spec.ProxyTLVs, AllowedAccounts: []string{b.ConsumerID}, Forwarding: spec.Forwarding,
		AddressIPVersion: spec.AddressIPVersion,
	})
	if err != nil {
		return svc, fmt.Errorf("publish service %q: %w", spec.Description, err)
	}
	b.report(ProviderSide, KindService, svc.ServiceID, svc)
	return svc, nil
}

// Connect creates an interface endpoint to svc (by its service name, as a
// consumer finds it) in the consumer network, behind its security group.
func (b *Builder) Connect(ctx context.Context, consumer Network, svc model.EndpointService, spec EndpointSpec) (model.Endpoint, error) {
	idx := spec.VSwitches
	if idx == nil {
		for i := range consumer.VSwitches {
			idx = append(idx, i)
		}
	}
	var zones []api.EndpointZoneRequest
	for _, i := range idx {
		if i < 0 || i >= len(consumer.VSwitches) {
			return model.Endpoint{}, fmt.Errorf("endpoint to %s: no vSwitch #%d", svc.Name, i)
		}
		zones = append(zones, api.EndpointZoneRequest{ZoneID: consumer.VSwitches[i].ZoneID, VSwitchID: consumer.VSwitches[i].VSwitchID})
	}
	ep, err := b.Consumer.CreateEndpoint(ctx, api.CreateEndpointRequest{Name: spec.Name, ServiceName: svc.Name, VpcID: consumer.VPC.VpcID,
		SecurityGroupIDs: []string{consumer.SG.SecurityGroupID}, Zones: zones})
	if err != nil {
		return ep, fmt.Errorf("create endpoint to %s in %s: %w", svc.Name, consumer.VPC.VpcID, err)
	}
	b.report(ConsumerSide, KindEndpoint, ep.EndpointID, ep)
	return ep, nil
}

// Subnet is the i-th /24 of an IPv4 CIDR of /24 or larger: Subnet
// ("10.1.0.0/16", 3) is 10.1.3.0/24.
func Subnet(cidr string, i int) (string, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() > 24 {
		return "", fmt.Errorf("subnet #%d of %q: want an IPv4 CIDR of /24 or larger", i, cidr)
	}
	if i < 0 || i >= 1<<(24-p.Bits()) {
		return "", fmt.Errorf("subnet #%d of %s: out of range", i, cidr)
	}
	a := p.Masked().Addr().As4()
	n := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8) + uint32(i)<<8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), 0}), 24).String(), nil
}
