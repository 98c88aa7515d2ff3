package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

var tagCols = []col{{"RESOURCE TYPE", "resourceType"}, {"RESOURCE ID", "resourceId"}, {"KEY", "tagKey"}, {"VALUE", "tagValue"}}

// resourceTypeOf infers the tag resource type from an ID's prefix.
func resourceTypeOf(id string) (string, error) {
	for prefix, rt := range map[string]string{
		model.PrefixVPC: api.ResourceVPC, model.PrefixVSwitch: api.ResourceVSwitch, model.PrefixSG: api.ResourceSecurityGroup,
		model.PrefixService: api.ResourceService, model.PrefixEndpoint: api.ResourceEndpoint,
	} {
		if strings.HasPrefix(id, prefix) {
			return rt, nil
		}
	}
	return "", fmt.Errorf("cannot tell the resource type of %q; give --type (%s)", id, strings.Join(api.TaggableResources, ", "))
}

// resourceType is --type, else the type of the IDs (all of one type).
func resourceType(given string, ids []string) (string, error) {
	if given != "" {
		return given, nil
	}
	var rt string
	for _, id := range ids {
		t, err := resourceTypeOf(id)
		if err != nil {
			return "", err
		}
		if rt != "" && t != rt {
			return "", fmt.Errorf("resources of one type per command: %s and %s", rt, t)
		}
		rt = t
	}
	return rt, nil
}

func parseTags(ss []string) []api.Tag {
	var out []api.Tag
	for _, s := range ss {
		out = append(out, model.ParseTag(s))
	}
	return out
}

func tagCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "tag", Short: "Tag VPCs, vSwitches, security groups, services and endpoints; move them between resource groups"}
	var typ string
	var tags, keys []string
	var all bool
	add := &cobra.Command{Use: "add ID... --tag KEY=VALUE...", Short: "Set tags on resources of one type (at most 20 per resource)", Args: cobra.MinimumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		rt, err := resourceType(typ, args)
		if err != nil {
			return err
		}
		return g.run(cmd, tagCols, func(ctx context.Context, c *client.Client) (any, error) {
			return listed(c.TagResources(ctx, api.TagResourcesRequest{ResourceType: rt, ResourceIDs: args, Tags: parseTags(tags)}))
		})
	}}
	add.Flags().StringArrayVar(&tags, "tag", nil, "KEY=VALUE (repeatable)")
	remove := &cobra.Command{Use: "remove ID... (--key KEY... | --all)", Short: "Remove tags from resources of one type", Args: cobra.MinimumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		rt, err := resourceType(typ, args)
		if err != nil {
			return err
		}
		return g.run(cmd, tagCols, func(ctx context.Context, c *client.Client) (any, error) {
			return listed(c.UntagResources(ctx, api.UntagResourcesRequest{ResourceType: rt, ResourceIDs: args, TagKeys: keys, All: all}))
		})
	}}
	remove.Flags().StringArrayVar(&keys, "key", nil, "tag key to remove (repeatable)")
	remove.Flags().BoolVar(&all, "all", false, "remove every tag")
	list := &cobra.Command{Use: "list [ID...] [--type TYPE] [--tag KEY[=VALUE]...]", Short: "List the tags of resources (no ID: every resource of --type)", RunE: func(cmd *cobra.Command, args []string) error {
		rt, err := resourceType(typ, args)
		if err != nil {
			return err
		}
		if rt == "" {
			return fmt.Errorf("give resource IDs or --type (%s)", strings.Join(api.TaggableResources, ", "))
		}
		return g.run(cmd, tagCols, func(ctx context.Context, c *client.Client) (any, error) {
			return listed(c.ListTagResources(ctx, rt, args, parseTags(tags)))
		})
	}}
	list.Flags().StringArrayVar(&tags, "tag", nil, "only resources with KEY=VALUE (or KEY: any value); repeatable")
	var rg string
	move := &cobra.Command{Use: "move-resource-group ID --resource-group RG", Short: "Move a resource to another resource group (empty: the default)", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		rt, err := resourceType(typ, args)
		if err != nil {
			return err
		}
		return g.run(cmd, []col{{"RESOURCE TYPE", "resourceType"}, {"RESOURCE ID", "resourceId"}, {"RESOURCE GROUP", "resourceGroupId"}}, func(ctx context.Context, c *client.Client) (any, error) {
			return c.ChangeResourceGroup(ctx, api.ChangeResourceGroupRequest{ResourceType: rt, ResourceID: args[0], ResourceGroupID: rg})
		})
	}}
	move.Flags().StringVar(&rg, "resource-group", "", "resource group ID (rg-...)")
	for _, c := range []*cobra.Command{add, remove, list, move} {
		c.Flags().StringVar(&typ, "type", "", "resource type: "+strings.Join(api.TaggableResources, ", ")+" (default: from the IDs)")
	}
	cmd.AddCommand(add, remove, list, move)
	return cmd
}

// tagsValue is a repeatable --tag KEY=VALUE flag appending to a request's tags.
type tagsValue struct{ dst *[]api.Tag }

func (v tagsValue) String() string { return "" }
func (v tagsValue) Type() string   { return "KEY=VALUE" }
func (v tagsValue) Set(s string) error {
	*v.dst = append(*v.dst, model.ParseTag(s))
	return nil
}

// taggingFlags adds --tag and --resource-group to a create command.
func taggingFlags(c *cobra.Command, tags *[]api.Tag, rg *string) {
	c.Flags().Var(tagsValue{tags}, "tag", "tag KEY=VALUE (repeatable; at most 20)")
	c.Flags().StringVar(rg, "resource-group", "", "resource group ID (rg-...; default: the default group)")
}
