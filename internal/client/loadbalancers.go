package client

import (
	"context"

	"github.com/privlink/privlink/internal/api"
)

// CreateLoadBalancer creates a load balancer in one of the account's VPCs.
func (c *Client) CreateLoadBalancer(ctx context.Context, req api.CreateLoadBalancerRequest) (api.LoadBalancer, error) {
	return call[api.LoadBalancer](ctx, c, api.OpCreateLoadBalancer, nil, req)
}

// ListLoadBalancers lists the account's load balancers (filter: VpcID).
func (c *Client) ListLoadBalancers(ctx context.Context, f Filter) ([]api.LoadBalancer, error) {
	return list[api.LoadBalancer](ctx, c, api.OpListLoadBalancers, f.query())
}

// GetLoadBalancer reads one load balancer, with its services and backend health.
func (c *Client) GetLoadBalancer(ctx context.Context, id string) (api.LoadBalancer, error) {
	return call[api.LoadBalancer](ctx, c, api.OpGetLoadBalancer, nil, nil, id)
}

// DeleteLoadBalancer deletes a load balancer attached to no service.
func (c *Client) DeleteLoadBalancer(ctx context.Context, id string) (api.LoadBalancer, error) {
	return call[api.LoadBalancer](ctx, c, api.OpDeleteLoadBalancer, nil, nil, id)
}

// AttachServiceLoadBalancer attaches a load balancer to a service, which
// takes its ports, zones and backends.
func (c *Client) AttachServiceLoadBalancer(ctx context.Context, serviceID string, req api.ServiceLoadBalancerRequest) (api.EndpointService, error) {
	return call[api.EndpointService](ctx, c, api.OpAttachServiceLB, nil, req, serviceID)
}

// DetachServiceLoadBalancer detaches a load balancer from a service (not its last).
func (c *Client) DetachServiceLoadBalancer(ctx context.Context, serviceID, lbID string) (api.EndpointService, error) {
	return call[api.EndpointService](ctx, c, api.OpDetachServiceLB, nil, nil, serviceID, lbID)
}
