package client

import (
	"context"

	"github.com/privlink/privlink/internal/api"
)

// CreateNotification subscribes a webhook; the answer holds the secret, once.
func (c *Client) CreateNotification(ctx context.Context, req api.CreateNotificationRequest) (api.Notification, error) {
	return call[api.Notification](ctx, c, api.OpCreateNotification, nil, req)
}

// ListNotifications lists the account's webhook subscriptions with their delivery log.
func (c *Client) ListNotifications(ctx context.Context) ([]api.Notification, error) {
	return list[api.Notification](ctx, c, api.OpListNotifications, nil)
}

// DeleteNotification deletes a webhook subscription.
func (c *Client) DeleteNotification(ctx context.Context, id string) (api.Notification, error) {
	return call[api.Notification](ctx, c, api.OpDeleteNotification, nil, nil, id)
}
