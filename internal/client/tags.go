package client

import (
	"context"
	"net/url"

	"github.com/privlink/privlink/internal/api"
)

// TagResources sets tags on the account's resources of one type (all or
// none) and returns their tags.
func (c *Client) TagResources(ctx context.Context, req api.TagResourcesRequest) ([]api.TagResource, error) {
	l, err := call[api.List[api.TagResource]](ctx, c, api.OpTagResources, nil, req)
	return l.Items, err
}

// UntagResources removes tags (by key, or all) from the account's
// resources of one type and returns the tags left.
func (c *Client) UntagResources(ctx context.Context, req api.UntagResourcesRequest) ([]api.TagResource, error) {
	l, err := call[api.List[api.TagResource]](ctx, c, api.OpUntagResources, nil, req)
	return l.Items, err
}

// ListTagResources lists the tags of the account's resources of type rt:
// of ids (none: every resource of the type) carrying every tag of want.
func (c *Client) ListTagResources(ctx context.Context, rt string, ids []string, want []api.Tag) ([]api.TagResource, error) {
	q := url.Values{api.FilterResourceType: {rt}}
	for _, id := range ids {
		q.Add(api.FilterResourceID, id)
	}
	for _, t := range want {
		q.Add(api.FilterTag, t.Key+"="+t.Value)
	}
	return list[api.TagResource](ctx, c, api.OpListTagResources, q)
}

// ChangeResourceGroup moves one of the account's resources to another
// resource group (empty: the default).
func (c *Client) ChangeResourceGroup(ctx context.Context, req api.ChangeResourceGroupRequest) (api.ChangeResourceGroupRequest, error) {
	return call[api.ChangeResourceGroupRequest](ctx, c, api.OpChangeResourceGroup, nil, req)
}
