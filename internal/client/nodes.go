package client

import (
	"context"

	"github.com/privlink/privlink/internal/api"
)

// ListNodes lists the region's nodes with their status and load (admin only).
func (c *Client) ListNodes(ctx context.Context) ([]api.Node, error) {
	return list[api.Node](ctx, c, api.OpListNodes, nil)
}

// DeleteNode deletes the registration of a node that is not ready and
// holds no host or endpoint IP (admin only).
func (c *Client) DeleteNode(ctx context.Context, name string) (api.Node, error) {
	return call[api.Node](ctx, c, api.OpDeleteNode, nil, nil, name)
}
