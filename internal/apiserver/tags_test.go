package apiserver_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/testenv"
)

// TestTags: tags and a resource group set at create, changed by the tag
// operations (all or none over several resources), listed, and used as
// list filters; bad tags are refused with a code; only the owner tags,
// and a consumer never sees the provider's tags.
func TestTags(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16131})
	c := s.Consumer
	env := []api.Tag{{Key: "env", Value: "prod"}}
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{Name: "tagged", CidrBlock: "10.88.0.0/16", Tags: env, ResourceGroupID: "rg-team1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(vpc.Tags) != 1 || vpc.Tags[0] != env[0] || vpc.ResourceGroupID != "rg-team1" {
		t.Fatalf("create: tags %+v rg %q", vpc.Tags, vpc.ResourceGroupID)
	}

	long := strings.Repeat("k", 129)
	var twenty []api.Tag
	for i := 0; i < 21; i++ {
		twenty = append(twenty, api.Tag{Key: fmt.Sprintf("k%d", i)})
	}
	for _, tc := range []struct {
		name string
		tags []api.Tag
		rg   string
		code string
	}{
		{"reserved aliyun", []api.Tag{{Key: "aliyun:x"}}, "", "InvalidParameter.Tags.Key"},
		{"reserved acs", []api.Tag{{Key: "ACS:x"}}, "", "InvalidParameter.Tags.Key"},
		{"empty key", []api.Tag{{Key: "", Value: "v"}}, "", "InvalidParameter.Tags.Key"},
		{"long key", []api.Tag{{Key: long}}, "", "InvalidParameter.Tags.Key"},
		{"long value", []api.Tag{{Key: "a", Value: long}}, "", "InvalidParameter.Tags.Value"},
		{"duplicate", []api.Tag{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}, "", "InvalidParameter.Tags.Key"},
		{"21 tags", twenty, "", "QuotaExceeded.TagsPerResource"},
		{"bad group", nil, "group1", "InvalidParameter.ResourceGroupId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: vpc.VpcID, Tags: tc.tags, ResourceGroupID: tc.rg})
			wantCode(t, err, tc.code)
			_, err = c.TagResources(bg, api.TagResourcesRequest{ResourceType: api.ResourceVPC, ResourceIDs: []string{vpc.VpcID}, Tags: tc.tags})
			if tc.tags != nil {
				wantCode(t, err, tc.code)
			}
		})
	}
	if sgs, _ := c.ListSecurityGroups(bg, client.Filter{VpcID: vpc.VpcID}); len(sgs) != 0 {
		t.Fatalf("a refused create left %d groups", len(sgs))
	}

	// Tag the endpoint and the VPC; an unknown ID makes the whole call fail.
	ep := s.Endpoint.EndpointID
	_, err = c.TagResources(bg, api.TagResourcesRequest{ResourceType: api.ResourceEndpoint, ResourceIDs: []string{ep, "ep-nosuch"}, Tags: env})
	wantCode(t, err, "EndpointNotFound")
	if got, _ := c.GetEndpoint(bg, ep); len(got.Tags) != 0 {
		t.Fatalf("a failed tag call tagged the endpoint: %+v", got.Tags)
	}
	_, err = s.Provider.TagResources(bg, api.TagResourcesRequest{ResourceType: api.ResourceEndpoint, ResourceIDs: []string{ep}, Tags: env})
	wantCode(t, err, "EndpointNotFound")
	got, err := c.TagResources(bg, api.TagResourcesRequest{ResourceType: api.ResourceEndpoint, ResourceIDs: []string{ep}, Tags: []api.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "db"}}})
	if err != nil || len(got) != 2 {
		t.Fatalf("tag: %+v %v", got, err)
	}
	// Setting a key again replaces its value.
	if _, err := c.TagResources(bg, api.TagResourcesRequest{ResourceType: api.ResourceEndpoint, ResourceIDs: []string{ep}, Tags: []api.Tag{{Key: "team", Value: "web"}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagResources(bg, api.ResourceEndpoint, []string{ep}, nil)
	if err != nil || len(tags) != 2 || tags[1] != (api.TagResource{ResourceType: "endpoint", ResourceID: ep, Key: "team", Value: "web"}) {
		t.Fatalf("list: %+v %v", tags, err)
	}
	// Filters: by tag (key and value, key only) and resource group.
	for _, tc := range []struct {
		f    client.Filter
		want int
	}{
		{client.Filter{Tags: []api.Tag{{Key: "team", Value: "web"}}}, 1},
		{client.Filter{Tags: []api.Tag{{Key: "team"}}}, 1},
		{client.Filter{Tags: []api.Tag{{Key: "team", Value: "db"}}}, 0},
		{client.Filter{Tags: []api.Tag{{Key: "env", Value: "prod"}, {Key: "nope"}}}, 0},
		{client.Filter{ResourceGroupID: "rg-team1"}, 0},
	} {
		eps, err := c.ListEndpoints(bg, tc.f)
		if err != nil || len(eps) != tc.want {
			t.Errorf("ListEndpoints %+v: %d endpoints, want %d (%v)", tc.f, len(eps), tc.want, err)
		}
	}
	if vpcs, err := c.ListVPCsWhere(bg, client.Filter{ResourceGroupID: "rg-team1"}); err != nil || len(vpcs) != 1 || vpcs[0].VpcID != vpc.VpcID {
		t.Fatalf("VPCs of rg-team1: %+v %v", vpcs, err)
	}
	if all, err := c.ListTagResources(bg, api.ResourceEndpoint, nil, []api.Tag{{Key: "env"}}); err != nil || len(all) != 2 {
		t.Fatalf("list by tag: %+v %v", all, err)
	}

	// Resource group changes; only the owner.
	_, err = s.Provider.ChangeResourceGroup(bg, api.ChangeResourceGroupRequest{ResourceType: api.ResourceEndpoint, ResourceID: ep, ResourceGroupID: "rg-team1"})
	wantCode(t, err, "EndpointNotFound")
	if _, err := c.ChangeResourceGroup(bg, api.ChangeResourceGroupRequest{ResourceType: api.ResourceEndpoint, ResourceID: ep, ResourceGroupID: "rg-team1"}); err != nil {
		t.Fatal(err)
	}
	if eps, _ := c.ListEndpoints(bg, client.Filter{ResourceGroupID: "rg-team1"}); len(eps) != 1 {
		t.Fatalf("endpoint not in its new group: %d", len(eps))
	}
	_, err = c.ChangeResourceGroup(bg, api.ChangeResourceGroupRequest{ResourceType: "host", ResourceID: ep})
	wantCode(t, err, "InvalidParameter.ResourceType")

	// Untag by key, then all; a 21st tag is refused.
	left, err := c.UntagResources(bg, api.UntagResourcesRequest{ResourceType: api.ResourceEndpoint, ResourceIDs: []string{ep}, TagKeys: []string{"env"}})
	if err != nil || len(left) != 1 || left[0].Key != "team" {
		t.Fatalf("untag: %+v %v", left, err)
	}
	if left, err := c.UntagResources(bg, api.UntagResourcesRequest{ResourceType: api.ResourceEndpoint, ResourceIDs: []string{ep}, All: true}); err != nil || len(left) != 0 {
		t.Fatalf("untag all: %+v %v", left, err)
	}
	if _, err := c.TagResources(bg, api.TagResourcesRequest{ResourceType: api.ResourceEndpoint, ResourceIDs: []string{ep}, Tags: twenty[:20]}); err != nil {
		t.Fatal(err)
	}
	_, err = c.TagResources(bg, api.TagResourcesRequest{ResourceType: api.ResourceEndpoint, ResourceIDs: []string{ep}, Tags: []api.Tag{{Key: "one-more"}}})
	wantCode(t, err, "QuotaExceeded.TagsPerResource")

	// The provider's service tags are the provider's.
	svc := s.Service.ServiceID
	if _, err := s.Provider.TagResources(bg, api.TagResourcesRequest{ResourceType: api.ResourceService, ResourceIDs: []string{svc}, Tags: env}); err != nil {
		t.Fatal(err)
	}
	if seen, err := c.GetService(bg, svc); err != nil || len(seen.Tags) != 0 {
		t.Fatalf("the consumer sees the provider's tags: %+v %v", seen.Tags, err)
	}
	if mine, err := s.Provider.ListServicesWhere(bg, client.Filter{Tags: env}); err != nil || len(mine) != 1 {
		t.Fatalf("services by tag: %d %v", len(mine), err)
	}
}
