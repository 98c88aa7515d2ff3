package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/client"
)

var tokenCols = []col{{"ACCOUNT ID", "accountId"}, {"NAME", "name"}, {"TOKEN", "token"}}

// accountLifecycle is rotate-token and delete of the account command.
func accountLifecycle(g *globals) []*cobra.Command {
	rotate := &cobra.Command{Use: "rotate-token [ACCOUNT_ID]", Short: "Replace the token (yours, or the admin: any account's); prints the new one once, the old stops working",
		Args: cobra.MaximumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, tokenCols, func(ctx context.Context, c *client.Client) (any, error) {
				id, err := accountArg(ctx, c, args)
				if err != nil {
					return nil, err
				}
				return c.RotateToken(ctx, id)
			})
		}}
	del := &cobra.Command{Use: "delete ACCOUNT_ID", Short: "Delete an account that owns nothing, and its tokens (admin)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, acctCols, func(ctx context.Context, c *client.Client) (any, error) { return c.DeleteAccount(ctx, args[0]) })
		}}
	return []*cobra.Command{rotate, del}
}

// accountArg is the account ID given, or the caller's own.
func accountArg(ctx context.Context, c *client.Client, args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	me, err := c.WhoAmI(ctx)
	return me.AccountID, err
}
