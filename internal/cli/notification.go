package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

var (
	notifCols = []col{{"NOTIFICATION ID", "notificationId"}, {"SERVICE", "serviceId"}, {"ENDPOINT", "endpointId"}, {"URL", "url"},
		{"EVENTS", "eventTypes"}, {"STATUS", "status"}, {"DELIVERED", "delivery.delivered"}, {"ATTEMPTS", "delivery.attempts"},
		{"FAILURES", "delivery.failures"}, {"LAST STATUS", "delivery.lastStatus"}, {"LAST ERROR", "delivery.lastError"}}
	notifCreateCols = append([]col{{"SECRET (shown once)", "secret"}}, notifCols...)
)

func notificationCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "notification", Short: "Manage webhook notifications of events"}
	var req api.CreateNotificationRequest
	create := &cobra.Command{Use: "create", Short: "Subscribe a webhook to the events of your service or endpoint", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.run(cmd, notifCreateCols, func(ctx context.Context, c *client.Client) (any, error) { return c.CreateNotification(ctx, req) })
		}}
	f := create.Flags()
	f.StringVar(&req.ServiceID, "service", "", "service ID (yours)")
	f.StringVar(&req.EndpointID, "endpoint", "", "endpoint ID (yours)")
	f.StringVar(&req.URL, "url", "", "http(s) URL to POST events to (inside the admin's --webhook-allow)")
	f.StringSliceVar(&req.EventTypes, "events", nil, "event types to deliver, comma-separated (default: all)")
	list := &cobra.Command{Use: "list", Short: "List your subscriptions with their delivery log", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, notifCols, func(ctx context.Context, c *client.Client) (any, error) { return listed(c.ListNotifications(ctx)) })
	}}
	del := &cobra.Command{Use: "delete ID", Short: "Delete a subscription", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, notifCols, func(ctx context.Context, c *client.Client) (any, error) { return c.DeleteNotification(ctx, args[0]) })
	}}
	cmd.AddCommand(create, list, del)
	return cmd
}
