package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/client"
)

var nodeCols = []col{{"NAME", "name"}, {"ZONE", "zoneId"}, {"UNDERLAY", "underlayAddr"}, {"STATUS", "status"},
	{"NOT READY SINCE", "notReadySince"}, {"ENIS", "enis"}, {"HOSTS", "hosts"}, {"VERSION", "version"}}

func nodeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "The region's nodes: machines running privlink's data plane (admin only)"}
	list := &cobra.Command{Use: "list", Short: "List nodes: zone, underlay address, Ready or NotReady since when, endpoint IPs and hosts held, version", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, nodeCols, func(ctx context.Context, c *client.Client) (any, error) { return listed(c.ListNodes(ctx)) })
	}}
	del := &cobra.Command{Use: "delete NAME", Short: "Delete a node's registration (it must be stopped and hold no host or endpoint IP)", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, nodeCols, func(ctx context.Context, c *client.Client) (any, error) { return c.DeleteNode(ctx, args[0]) })
	}}
	cmd.AddCommand(list, del)
	return cmd
}
