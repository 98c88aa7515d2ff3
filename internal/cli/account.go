package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/client"
)

var tokenCols = []col{{"ACCOUNT ID", "accountId"}, {"NAME", "name"}, {"TOKEN", "token"}}

// accountLifecycle is rotate-token and delete of the account command.
func accountLifecycle(g *globals) []*cobra.Command {
	rotate := &cobra.Command{Use: "rotate-token [ACCOUNT_ID]", Short: "Replace the token (yours, or the admin: any account's); prints the new one once, the old stops working",
		Args: cobra.MaximumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, tokenCols, func(ctx context.Context, c *client.Client) (any, error) {
				me, err := c.WhoAmI(ctx)
				if err != nil {
					return nil, err
				}
				id := me.AccountID
				if len(args) == 1 {
					id = args[0]
				}
				rot, err := c.RotateToken(ctx, id)
				if err == nil && me.Admin && id == me.AccountID {
					adminTokenNote(cmd.ErrOrStderr(), rot.TokenFile)
				}
				return rot, err
			})
		}}
	del := &cobra.Command{Use: "delete ACCOUNT_ID", Short: "Delete an account that owns nothing, and its tokens (admin)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, acctCols, func(ctx context.Context, c *client.Client) (any, error) { return c.DeleteAccount(ctx, args[0]) })
		}}
	return []*cobra.Command{rotate, del}
}

// adminTokenNote tells the admin where its new token is kept.
func adminTokenNote(w io.Writer, file string) {
	if file != "" {
		fmt.Fprintf(w, "The server rewrote %s with the new admin token; update PRIVLINK_TOKEN and any copy of the old one.\n", file)
		return
	}
	fmt.Fprintln(w, "The server that answered keeps no admin.token: <data-dir>/admin.token of the server that created the admin still holds the OLD token; replace it by hand.")
}

// accountArg is the account ID given, or the caller's own.
func accountArg(ctx context.Context, c *client.Client, args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	me, err := c.WhoAmI(ctx)
	return me.AccountID, err
}
