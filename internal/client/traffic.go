package client

import (
	"context"

	"github.com/privlink/privlink/internal/api"
)

// EndpointTraffic reads an endpoint's traffic over the last hour and day,
// per zone, with the last backend checks.
func (c *Client) EndpointTraffic(ctx context.Context, id string) (api.EndpointTraffic, error) {
	return call[api.EndpointTraffic](ctx, c, api.OpEndpointTraffic, nil, nil, id)
}

// ServiceTraffic reads a service's traffic: the sum over its endpoints,
// each endpoint's, and each backend's last check per zone.
func (c *Client) ServiceTraffic(ctx context.Context, id string) (api.ServiceTraffic, error) {
	return call[api.ServiceTraffic](ctx, c, api.OpServiceTraffic, nil, nil, id)
}
