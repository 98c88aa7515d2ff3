package client

import (
	"context"
	"fmt"

	"github.com/privlink/privlink/internal/api"
)

// CreateAccount creates an account (admin only); the answer carries its token.
func (c *Client) CreateAccount(ctx context.Context, req api.CreateAccountRequest) (api.AccountWithToken, error) {
	return call[api.AccountWithToken](ctx, c, api.OpCreateAccount, nil, req)
}

// CreateAccountClient creates an account named name and returns a client
// acting as it.
func (c *Client) CreateAccountClient(ctx context.Context, name string) (*Client, api.AccountWithToken, error) {
	a, err := c.CreateAccount(ctx, api.CreateAccountRequest{Name: name})
	if err != nil {
		return nil, a, fmt.Errorf("create account %s: %w", name, err)
	}
	return c.WithToken(a.Token), a, nil
}

// ListAccounts lists every account (admin only).
func (c *Client) ListAccounts(ctx context.Context) ([]api.AccountWithToken, error) {
	return list[api.AccountWithToken](ctx, c, api.OpListAccounts, nil)
}

// RotateToken replaces the account's tokens by a new one, in the answer:
// the old ones stop working. An account rotates its own, the admin any.
func (c *Client) RotateToken(ctx context.Context, accountID string) (api.AccountWithToken, error) {
	return call[api.AccountWithToken](ctx, c, api.OpRotateToken, nil, nil, accountID)
}

// DeleteAccount deletes an account that owns no resources, and its tokens
// (admin only).
func (c *Client) DeleteAccount(ctx context.Context, accountID string) (api.AccountWithToken, error) {
	return call[api.AccountWithToken](ctx, c, api.OpDeleteAccount, nil, nil, accountID)
}

// GetQuota returns an account's quotas and usage (your own; the admin: any).
func (c *Client) GetQuota(ctx context.Context, accountID string) (api.AccountQuota, error) {
	return call[api.AccountQuota](ctx, c, api.OpGetQuota, nil, nil, accountID)
}

// SetQuota changes the limits req gives of an account's quota (admin only).
func (c *Client) SetQuota(ctx context.Context, accountID string, req api.SetQuotaRequest) (api.AccountQuota, error) {
	return call[api.AccountQuota](ctx, c, api.OpSetQuota, nil, req, accountID)
}

// WhoAmI describes the account of the client's token.
func (c *Client) WhoAmI(ctx context.Context) (api.Caller, error) {
	return call[api.Caller](ctx, c, api.OpWhoAmI, nil, nil)
}

// DescribeRegion describes the region, its zones and the DNS zone.
func (c *Client) DescribeRegion(ctx context.Context) (api.Region, error) {
	return call[api.Region](ctx, c, api.OpDescribeRegion, nil, nil)
}
