package client

import (
	"context"
	"net/url"

	"github.com/privlink/privlink/internal/api"
)

// CreateService publishes an endpoint service.
func (c *Client) CreateService(ctx context.Context, req api.CreateServiceRequest) (api.EndpointService, error) {
	return call[api.EndpointService](ctx, c, api.OpCreateService, nil, req)
}

// ListServices lists the services the account provides.
func (c *Client) ListServices(ctx context.Context) ([]api.EndpointService, error) {
	return list[api.EndpointService](ctx, c, api.OpListServices, nil)
}

// SearchServices lists the services that allow-list the account whose name
// contains name (every one when name is empty).
func (c *Client) SearchServices(ctx context.Context, name string) ([]api.EndpointService, error) {
	return list[api.EndpointService](ctx, c, api.OpSearchServices, url.Values{api.FilterServiceName: {name}})
}

// GetService reads a service by ID or name.
func (c *Client) GetService(ctx context.Context, idOrName string) (api.EndpointService, error) {
	return call[api.EndpointService](ctx, c, api.OpGetService, nil, nil, idOrName)
}

// UpdateService changes a service's attributes.
func (c *Client) UpdateService(ctx context.Context, id string, req api.UpdateServiceRequest) (api.EndpointService, error) {
	return call[api.EndpointService](ctx, c, api.OpUpdateService, nil, req, id)
}

// DeleteService deletes a service whose endpoints are all Disconnected
// (they turn ServiceDeleted).
func (c *Client) DeleteService(ctx context.Context, id string) (api.EndpointService, error) {
	return call[api.EndpointService](ctx, c, api.OpDeleteService, nil, nil, id)
}

// AllowAccount adds an account to the service's allow-list.
func (c *Client) AllowAccount(ctx context.Context, id, accountID string) (api.EndpointService, error) {
	return call[api.EndpointService](ctx, c, api.OpAllowAccount, nil, api.AllowRequest{AccountID: accountID}, id)
}

// DisallowAccount removes an account from the allow-list and disconnects
// its endpoints.
func (c *Client) DisallowAccount(ctx context.Context, id, accountID string) (api.EndpointService, error) {
	return call[api.EndpointService](ctx, c, api.OpDisallowAccount, nil, nil, id, accountID)
}

// ListConnections lists the endpoints connected to a service.
func (c *Client) ListConnections(ctx context.Context, id string) ([]api.Connection, error) {
	return list[api.Connection](ctx, c, api.OpListConnections, nil, id)
}

// AcceptConnection accepts an endpoint's connection to a service.
func (c *Client) AcceptConnection(ctx context.Context, id, endpointID string) (api.Connection, error) {
	return call[api.Connection](ctx, c, api.OpAcceptConnection, nil, nil, id, endpointID)
}

// UpdateConnection changes a connection's attributes (the provider's
// bandwidth cap for one endpoint).
func (c *Client) UpdateConnection(ctx context.Context, id, endpointID string, req api.UpdateConnectionRequest) (api.Connection, error) {
	return call[api.Connection](ctx, c, api.OpUpdateConnection, nil, req, id, endpointID)
}

// PinZoneResource pins one zone of a connection to one of the service's
// resources in that zone ("" unpins it).
func (c *Client) PinZoneResource(ctx context.Context, id, endpointID, zoneID, resourceID string) (api.Connection, error) {
	return call[api.Connection](ctx, c, api.OpZoneResource, nil, api.ZoneResourceRequest{ResourceID: resourceID}, id, endpointID, zoneID)
}

// DisableZoneConnection disables one zone of an endpoint's connection to
// a service (provider): the zone carries nothing and leaves DNS.
func (c *Client) DisableZoneConnection(ctx context.Context, id, endpointID, zoneID string) (api.Connection, error) {
	return call[api.Connection](ctx, c, api.OpDisableZoneConn, nil, nil, id, endpointID, zoneID)
}

// EnableZoneConnection enables a disabled zone of a connection again.
func (c *Client) EnableZoneConnection(ctx context.Context, id, endpointID, zoneID string) (api.Connection, error) {
	return call[api.Connection](ctx, c, api.OpEnableZoneConn, nil, nil, id, endpointID, zoneID)
}

// SetZoneConnection disables or enables one zone of a connection.
func (c *Client) SetZoneConnection(ctx context.Context, id, endpointID, zoneID string, disable bool) (api.Connection, error) {
	if disable {
		return c.DisableZoneConnection(ctx, id, endpointID, zoneID)
	}
	return c.EnableZoneConnection(ctx, id, endpointID, zoneID)
}

// RejectConnection rejects (or disconnects) an endpoint's connection.
func (c *Client) RejectConnection(ctx context.Context, id, endpointID string) (api.Connection, error) {
	return call[api.Connection](ctx, c, api.OpRejectConnection, nil, nil, id, endpointID)
}

// ListServicesWhere lists the services the account provides that pass f's
// tag and resource group filters.
func (c *Client) ListServicesWhere(ctx context.Context, f Filter) ([]api.EndpointService, error) {
	return list[api.EndpointService](ctx, c, api.OpListServices, f.query())
}
