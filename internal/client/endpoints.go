package client

import (
	"context"
	"fmt"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
)

// CreateEndpoint creates an interface endpoint.
func (c *Client) CreateEndpoint(ctx context.Context, req api.CreateEndpointRequest) (api.Endpoint, error) {
	return call[api.Endpoint](ctx, c, api.OpCreateEndpoint, nil, req)
}

// ListEndpoints lists the account's endpoints (filters: VpcID, ServiceID).
func (c *Client) ListEndpoints(ctx context.Context, f Filter) ([]api.Endpoint, error) {
	return list[api.Endpoint](ctx, c, api.OpListEndpoints, f.query())
}

// GetEndpoint reads an endpoint with its live zone status.
func (c *Client) GetEndpoint(ctx context.Context, id string) (api.Endpoint, error) {
	return call[api.Endpoint](ctx, c, api.OpGetEndpoint, nil, nil, id)
}

// DeleteEndpoint deletes an endpoint and releases its IPs.
func (c *Client) DeleteEndpoint(ctx context.Context, id string) (api.Endpoint, error) {
	return call[api.Endpoint](ctx, c, api.OpDeleteEndpoint, nil, nil, id)
}

// Active reports whether the endpoint is Active.
func Active(ep api.Endpoint) bool { return ep.EndpointStatus == model.StatusActive }

// WaitEndpointActive polls the endpoint until it is Active, calling
// progress (when non-nil) with every state read. Bound it with ctx.
func (c *Client) WaitEndpointActive(ctx context.Context, id string, progress func(api.Endpoint)) (api.Endpoint, error) {
	return c.WaitEndpoint(ctx, id, Active, progress)
}

// WaitEndpoint polls the endpoint until done holds, calling progress (when
// non-nil) with every state read. When ctx ends first it returns the last
// state read and an error wrapping ctx's.
func (c *Client) WaitEndpoint(ctx context.Context, id string, done func(api.Endpoint) bool, progress func(api.Endpoint)) (api.Endpoint, error) {
	every := c.PollInterval
	if every <= 0 {
		every = 50 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last api.Endpoint
	for {
		ep, err := c.GetEndpoint(ctx, id)
		if err != nil {
			return last, fmt.Errorf("wait for endpoint %s: %w", id, err)
		}
		last = ep
		if progress != nil {
			progress(ep)
		}
		if done(ep) {
			return ep, nil
		}
		select {
		case <-ctx.Done():
			return ep, fmt.Errorf("wait for endpoint %s (status %s, connection %s): %w", id, ep.EndpointStatus, ep.ConnectionStatus, ctx.Err())
		case <-t.C:
		}
	}
}

// AttachSecurityGroup attaches a security group of the endpoint's VPC.
func (c *Client) AttachSecurityGroup(ctx context.Context, endpointID, sgID string) (api.Endpoint, error) {
	return call[api.Endpoint](ctx, c, api.OpAttachEndpointSG, nil, api.EndpointSecurityGroupRequest{SecurityGroupID: sgID}, endpointID)
}

// DetachSecurityGroup detaches one of the endpoint's security groups
// (another must stay).
func (c *Client) DetachSecurityGroup(ctx context.Context, endpointID, sgID string) (api.Endpoint, error) {
	return call[api.Endpoint](ctx, c, api.OpDetachEndpointSG, nil, nil, endpointID, sgID)
}

// UpdateEndpoint changes an endpoint's attributes (name).
func (c *Client) UpdateEndpoint(ctx context.Context, id string, req api.UpdateEndpointRequest) (api.Endpoint, error) {
	return call[api.Endpoint](ctx, c, api.OpUpdateEndpoint, nil, req, id)
}

// AddEndpointZone adds a zone to an endpoint.
func (c *Client) AddEndpointZone(ctx context.Context, endpointID string, z api.EndpointZoneRequest) (api.Endpoint, error) {
	return call[api.Endpoint](ctx, c, api.OpAddEndpointZone, nil, z, endpointID)
}

// RemoveEndpointZone removes one of an endpoint's zones (another must stay).
func (c *Client) RemoveEndpointZone(ctx context.Context, endpointID, zoneID string) (api.Endpoint, error) {
	return call[api.Endpoint](ctx, c, api.OpRemoveEndpointZone, nil, nil, endpointID, zoneID)
}
