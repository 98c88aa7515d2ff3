package client

import (
	"context"

	"github.com/privlink/privlink/internal/api"
)

// CreateAccessKey creates an AccessKey pair for the Alibaba Cloud RPC API;
// the answer carries the secret, which is never shown again.
func (c *Client) CreateAccessKey(ctx context.Context) (api.AccessKeyWithSecret, error) {
	return call[api.AccessKeyWithSecret](ctx, c, api.OpCreateAccessKey, nil, nil)
}

// ListAccessKeys lists the account's AccessKeys (without secrets).
func (c *Client) ListAccessKeys(ctx context.Context) ([]api.AccessKey, error) {
	return list[api.AccessKey](ctx, c, api.OpListAccessKeys, nil)
}

// DeleteAccessKey deletes one of the account's AccessKeys.
func (c *Client) DeleteAccessKey(ctx context.Context, id string) (api.AccessKey, error) {
	return call[api.AccessKey](ctx, c, api.OpDeleteAccessKey, nil, nil, id)
}
