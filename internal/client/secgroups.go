package client

import (
	"context"

	"github.com/privlink/privlink/internal/api"
)

// CreateSecurityGroup creates a security group (no rules: drop everything).
func (c *Client) CreateSecurityGroup(ctx context.Context, req api.CreateSecurityGroupRequest) (api.SecurityGroup, error) {
	return call[api.SecurityGroup](ctx, c, api.OpCreateSecurityGroup, nil, req)
}

// ListSecurityGroups lists the account's security groups (filter: VpcID).
func (c *Client) ListSecurityGroups(ctx context.Context, f Filter) ([]api.SecurityGroup, error) {
	return list[api.SecurityGroup](ctx, c, api.OpListSecurityGroups, f.query())
}

// GetSecurityGroup reads one security group.
func (c *Client) GetSecurityGroup(ctx context.Context, id string) (api.SecurityGroup, error) {
	return call[api.SecurityGroup](ctx, c, api.OpGetSecurityGroup, nil, nil, id)
}

// DeleteSecurityGroup deletes a security group no endpoint uses.
func (c *Client) DeleteSecurityGroup(ctx context.Context, id string) (api.SecurityGroup, error) {
	return call[api.SecurityGroup](ctx, c, api.OpDeleteSecurityGroup, nil, nil, id)
}

// AuthorizeSecurityGroup adds inbound rules.
func (c *Client) AuthorizeSecurityGroup(ctx context.Context, id string, req api.RulesRequest) (api.SecurityGroup, error) {
	return call[api.SecurityGroup](ctx, c, api.OpAuthorizeSG, nil, req, id)
}

// RevokeSecurityGroup removes inbound rules.
func (c *Client) RevokeSecurityGroup(ctx context.Context, id string, req api.RulesRequest) (api.SecurityGroup, error) {
	return call[api.SecurityGroup](ctx, c, api.OpRevokeSG, nil, req, id)
}
