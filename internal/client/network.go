package client

import (
	"context"
	"net/url"

	"github.com/privlink/privlink/internal/api"
)

// Filter narrows a list; empty fields do not filter.
type Filter struct {
	VpcID     string // vSwitches, security groups, hosts, endpoints
	ServiceID string // endpoints
	// Tags keeps resources carrying every tag (an empty Value: any value),
	// ResourceGroupID those of one resource group (VPCs, vSwitches,
	// security groups, services, endpoints).
	Tags            []api.Tag
	ResourceGroupID string
}

func (f Filter) query() url.Values {
	q := url.Values{api.FilterVpcID: {f.VpcID}, api.FilterServiceID: {f.ServiceID}, api.FilterResourceGroupID: {f.ResourceGroupID}}
	for _, t := range f.Tags {
		q.Add(api.FilterTag, t.Key+"="+t.Value)
	}
	return q
}

// ListVPCsWhere lists the account's VPCs that pass f's tag and resource
// group filters.
func (c *Client) ListVPCsWhere(ctx context.Context, f Filter) ([]api.VPC, error) {
	return list[api.VPC](ctx, c, api.OpListVPCs, f.query())
}

// CreateVPC creates a VPC.
func (c *Client) CreateVPC(ctx context.Context, req api.CreateVPCRequest) (api.VPC, error) {
	return call[api.VPC](ctx, c, api.OpCreateVPC, nil, req)
}

// ListVPCs lists the account's VPCs.
func (c *Client) ListVPCs(ctx context.Context) ([]api.VPC, error) {
	return list[api.VPC](ctx, c, api.OpListVPCs, nil)
}

// GetVPC reads one VPC.
func (c *Client) GetVPC(ctx context.Context, id string) (api.VPC, error) {
	return call[api.VPC](ctx, c, api.OpGetVPC, nil, nil, id)
}

// DeleteVPC deletes an empty VPC.
func (c *Client) DeleteVPC(ctx context.Context, id string) (api.VPC, error) {
	return call[api.VPC](ctx, c, api.OpDeleteVPC, nil, nil, id)
}

// AllocateVpcIpv6Cidr gives an IPv4-only VPC an IPv6 /56 (req's, or
// empty: a random ULA one).
func (c *Client) AllocateVpcIpv6Cidr(ctx context.Context, id string, req api.AllocateVpcIpv6CidrRequest) (api.VPC, error) {
	return call[api.VPC](ctx, c, api.OpAllocateVPCIPv6, nil, req, id)
}

// CreateVSwitch creates a vSwitch in a VPC and zone.
func (c *Client) CreateVSwitch(ctx context.Context, req api.CreateVSwitchRequest) (api.VSwitch, error) {
	return call[api.VSwitch](ctx, c, api.OpCreateVSwitch, nil, req)
}

// ListVSwitches lists the account's vSwitches (filter: VpcID).
func (c *Client) ListVSwitches(ctx context.Context, f Filter) ([]api.VSwitch, error) {
	return list[api.VSwitch](ctx, c, api.OpListVSwitches, f.query())
}

// GetVSwitch reads one vSwitch.
func (c *Client) GetVSwitch(ctx context.Context, id string) (api.VSwitch, error) {
	return call[api.VSwitch](ctx, c, api.OpGetVSwitch, nil, nil, id)
}

// DeleteVSwitch deletes an unused vSwitch.
func (c *Client) DeleteVSwitch(ctx context.Context, id string) (api.VSwitch, error) {
	return call[api.VSwitch](ctx, c, api.OpDeleteVSwitch, nil, nil, id)
}

// CreateHost creates an ECS-like host on a vSwitch.
func (c *Client) CreateHost(ctx context.Context, req api.CreateHostRequest) (api.Host, error) {
	return call[api.Host](ctx, c, api.OpCreateHost, nil, req)
}

// ListHosts lists the account's hosts (filter: VpcID).
func (c *Client) ListHosts(ctx context.Context, f Filter) ([]api.Host, error) {
	return list[api.Host](ctx, c, api.OpListHosts, f.query())
}

// GetHost reads one host.
func (c *Client) GetHost(ctx context.Context, id string) (api.Host, error) {
	return call[api.Host](ctx, c, api.OpGetHost, nil, nil, id)
}

// DeleteHost deletes a host and releases its IP.
func (c *Client) DeleteHost(ctx context.Context, id string) (api.Host, error) {
	return call[api.Host](ctx, c, api.OpDeleteHost, nil, nil, id)
}
