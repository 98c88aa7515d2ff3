package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/client"
)

var akCols = []col{{"ACCESS KEY ID", "accessKeyId"}, {"ACCOUNT ID", "accountId"}, {"STATUS", "status"}, {"CREATED", "createTime"}}

// accessKeyPair is what `access-key create` prints: the pair an Alibaba
// Cloud SDK takes, {"accessKeyId", "accessKeySecret"} with -o json.
type accessKeyPair struct {
	AccessKeyID     string `json:"accessKeyId"`
	AccessKeySecret string `json:"accessKeySecret"`
}

func accessKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "access-key", Short: "Manage AccessKey pairs for the Alibaba Cloud RPC API (docs/alibaba-api.md)"}
	create := &cobra.Command{Use: "create", Short: "Create an AccessKey pair; prints the secret once", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, []col{{"ACCESS KEY ID", "accessKeyId"}, {"ACCESS KEY SECRET", "accessKeySecret"}}, func(ctx context.Context, c *client.Client) (any, error) {
			k, err := c.CreateAccessKey(ctx)
			return accessKeyPair{AccessKeyID: k.AccessKeyID, AccessKeySecret: k.AccessKeySecret}, err
		})
	}}
	list := &cobra.Command{Use: "list", Short: "List your AccessKeys (no secrets)", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, akCols, func(ctx context.Context, c *client.Client) (any, error) { return listed(c.ListAccessKeys(ctx)) })
	}}
	del := &cobra.Command{Use: "delete ACCESS_KEY_ID", Short: "Delete an AccessKey; requests signed with it fail at once", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, akCols, func(ctx context.Context, c *client.Client) (any, error) { return c.DeleteAccessKey(ctx, args[0]) })
	}}
	cmd.AddCommand(create, list, del)
	return cmd
}
