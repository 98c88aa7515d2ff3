package aliyun

import (
	"net/http"
	"slices"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

// Tags and resource groups: Tag.N.Key/Value and ResourceGroupId on the
// creates and lists that have them, and PrivateLink's TagResources,
// UntagResources, ListTagResources and ChangeResourceGroup on endpoints
// and services. The checks (20 tags, key and value lengths, reserved
// prefixes, duplicates, only the owner) are /v1's.

// tagsOf reads Tag.N.Key / Tag.N.Value.
func tagsOf(p params) []api.Tag {
	var out []api.Tag
	for _, t := range p.structs("Tag") {
		out = append(out, api.Tag{Key: t["key"], Value: t["value"]})
	}
	return out
}

// tagFilter is the list filter of Tag.N and ResourceGroupId.
func tagFilter(p params) client.Filter {
	return client.Filter{Tags: tagsOf(p), ResourceGroupID: p.str("ResourceGroupId")}
}

// tagModel is the SDK's TagModel.
type tagModel struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

func tagModels(tags []api.Tag) []tagModel {
	out := []tagModel{}
	for _, t := range tags {
		out = append(out, tagModel{t.Key, t.Value})
	}
	return out
}

// tagTypes are one product's resource types of its tag actions: each
// Alibaba name (any case) and the /v1 type it is.
type tagTypes struct {
	alibaba map[string]string // /v1 type -> the name answered
}

// PrivateLink tags endpoints and services, VPC its VPCs and vSwitches,
// ECS its security groups.
var (
	plTagTypes  = tagTypes{map[string]string{api.ResourceEndpoint: "VpcEndpoint", api.ResourceService: "VpcEndpointService"}}
	vpcTagTypes = tagTypes{map[string]string{api.ResourceVPC: "VPC", api.ResourceVSwitch: "VSWITCH"}}
	ecsTagTypes = tagTypes{map[string]string{api.ResourceSecurityGroup: "securitygroup"}}
)

// resolve maps the request's ResourceType to the /v1 type.
func (tt tagTypes) resolve(p params) (string, error) {
	rt, err := p.required("ResourceType")
	if err != nil {
		return "", err
	}
	var names []string
	for v1, name := range tt.alibaba {
		if strings.EqualFold(rt, name) {
			return v1, nil
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return "", model.Errorf(http.StatusBadRequest, "InvalidParameter.ResourceType", "ResourceType %q must be one of %s", rt, strings.Join(names, ", "))
}

type baseOnly struct{ Base }

func tagResources(tt tagTypes) action {
	return func(c *call) (response, error) {
		rt, err := tt.resolve(c.p)
		if err != nil {
			return nil, err
		}
		if _, err := c.c.TagResources(c.ctx, api.TagResourcesRequest{ResourceType: rt, ResourceIDs: c.p.list("ResourceId"), Tags: tagsOf(c.p)}); err != nil {
			return nil, err
		}
		return &baseOnly{}, nil
	}
}

func untagResources(tt tagTypes) action {
	return func(c *call) (response, error) {
		rt, err := tt.resolve(c.p)
		if err != nil {
			return nil, err
		}
		all, err := c.p.boolean("All")
		if err != nil {
			return nil, err
		}
		if _, err := c.c.UntagResources(c.ctx, api.UntagResourcesRequest{ResourceType: rt, ResourceIDs: c.p.list("ResourceId"), TagKeys: c.p.list("TagKey"), All: all}); err != nil {
			return nil, err
		}
		return &baseOnly{}, nil
	}
}

type tagResourceView struct {
	ResourceType string `json:"ResourceType"`
	ResourceId   string `json:"ResourceId"`
	TagKey       string `json:"TagKey"`
	TagValue     string `json:"TagValue"`
}

// listTagResourcesResponse is PrivateLink's answer: a flat list.
type listTagResourcesResponse struct {
	Base
	NextToken    string            `json:"NextToken"`
	TagResources []tagResourceView `json:"TagResources"`
}

// listTagResourcesNested is VPC's and ECS's: TagResources.TagResource.
type listTagResourcesNested struct {
	Base
	NextToken    string `json:"NextToken"`
	TagResources struct {
		TagResource []tagResourceView `json:"TagResource"`
	} `json:"TagResources"`
}

// listTagResources lists the tags of the given resources, or of every
// resource of the type carrying the Tag.N given (Alibaba wants one of the
// two), NextToken/MaxResults paged; nested: VPC's and ECS's shape.
func listTagResources(tt tagTypes, nested bool) action {
	return func(c *call) (response, error) {
		rt, err := tt.resolve(c.p)
		if err != nil {
			return nil, err
		}
		ids, want := c.p.list("ResourceId"), tagsOf(c.p)
		if len(ids) == 0 && len(want) == 0 {
			return nil, model.Errorf(http.StatusBadRequest, "MissingParameter", "give ResourceId.N or Tag.N")
		}
		all, err := c.c.ListTagResources(c.ctx, rt, ids, want)
		if err != nil {
			return nil, err
		}
		page, next, _, err := tokenPage(c.p, all, func(t api.TagResource) string { return t.ResourceID + "\x00" + t.Key })
		if err != nil {
			return nil, err
		}
		views := []tagResourceView{}
		for _, t := range page {
			views = append(views, tagResourceView{ResourceType: tt.alibaba[rt], ResourceId: t.ResourceID, TagKey: t.Key, TagValue: t.Value})
		}
		if nested {
			out := &listTagResourcesNested{NextToken: next}
			out.TagResources.TagResource = views
			return out, nil
		}
		return &listTagResourcesResponse{NextToken: next, TagResources: views}, nil
	}
}

func changeResourceGroup(c *call) (response, error) {
	rt, err := plTagTypes.resolve(c.p)
	if err != nil {
		return nil, err
	}
	id, err := c.p.required("ResourceId")
	if err != nil {
		return nil, err
	}
	rg, err := c.p.required("ResourceGroupId")
	if err != nil {
		return nil, err
	}
	if r := c.p.str("ResourceRegionId"); r != "" && r != c.h.cfg.Region {
		return nil, model.Errorf(http.StatusBadRequest, "InvalidRegionId.NotFound", "region %s is not served here; this deployment is %s", r, c.h.cfg.Region)
	}
	if _, err := c.c.ChangeResourceGroup(c.ctx, api.ChangeResourceGroupRequest{ResourceType: rt, ResourceID: id, ResourceGroupID: rg}); err != nil {
		return nil, err
	}
	return &baseOnly{}, nil
}
