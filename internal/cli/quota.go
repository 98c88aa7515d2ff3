package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

var quotaCols = []col{{"QUOTA", "name"}, {"SCOPE", "scope"}, {"LIMIT", "limit"}, {"USAGE", "usage"}, {"DEFAULT", "default"}, {"CODE", "code"}}

// quotaCmds are `account quota` and `account set-quota`.
func quotaCmds(g *globals) []*cobra.Command {
	show := &cobra.Command{Use: "quota [ACCOUNT_ID]", Short: "Show an account's quotas and usage (yours, or the admin: any account's)",
		Args: cobra.MaximumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, quotaCols, func(ctx context.Context, c *client.Client) (any, error) {
				id, err := accountArg(ctx, c, args)
				if err != nil {
					return nil, err
				}
				return c.GetQuota(ctx, id)
			})
		}}
	vals := map[string]*int{}
	set := &cobra.Command{Use: "set-quota ACCOUNT_ID --vpcs N ...",
		Short: "Set some of an account's quotas (admin); lowering one below usage refuses new creates and deletes nothing",
		Args:  cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			var req api.SetQuotaRequest
			n := 0
			for _, it := range model.QuotaItems {
				if cmd.Flags().Changed(it.Flag()) {
					req.Set(it.Name, *vals[it.Name])
					n++
				}
			}
			if n == 0 {
				return fmt.Errorf("set-quota: give at least one limit, e.g. --vpcs 20")
			}
			return g.run(cmd, quotaCols, func(ctx context.Context, c *client.Client) (any, error) { return c.SetQuota(ctx, args[0], req) })
		}}
	for _, it := range model.QuotaItems {
		scope := map[string]string{"vpc": "VPC", "securityGroup": "security group"}[it.Scope]
		if scope == "" {
			scope = it.Scope
		}
		vals[it.Name] = set.Flags().Int(it.Flag(), 0, fmt.Sprintf("%s per %s, 0 to %d (default of every account: %d)", it.Noun, scope, it.Max, it.Def))
	}
	return []*cobra.Command{show, set}
}
