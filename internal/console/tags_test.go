package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
)

// TestTagsAndZonelessEndpointPages: the endpoint page shows its tags
// (escaped) and resource group, and says an endpoint without zones has
// none yet; the service page shows the provider its tags, not a consumer.
func TestTagsAndZonelessEndpointPages(t *testing.T) {
	w := startWorld(t)
	svc := w.service(t, "tagged", true)
	_, err := w.provider.TagResources(bg, api.TagResourcesRequest{ResourceType: api.ResourceService, ResourceIDs: []string{svc.ServiceID}, Tags: []api.Tag{{Key: "tier", Value: "gold"}}})
	must(t, err)
	vpc, _ := w.consumerNet(t, "10.61.0.0/16")
	sg, err := w.consumer.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: vpc.VpcID})
	must(t, err)
	const evil = `<b>x</b>`
	ep, err := w.consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: svc.ServiceID, VpcID: vpc.VpcID, SecurityGroupIDs: []string{sg.SecurityGroupID},
		Tags: []api.Tag{{Key: "app", Value: evil}}, ResourceGroupID: "rg-web"})
	must(t, err)

	h := newHTTP(t, w.base)
	h.mustLogin(w.consumer.Token())
	resp, body := h.get("/console/endpoints/" + ep.EndpointID)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("endpoint page: HTTP %d", resp.StatusCode)
	}
	for _, want := range []string{`id="tags"`, "app=&lt;b&gt;x&lt;/b&gt;", `id="resource-group">rg-web<`, `id="no-zone"`} {
		if !strings.Contains(body, want) {
			t.Errorf("endpoint page lacks %q", want)
		}
	}
	if strings.Contains(body, evil) {
		t.Error("a tag value is not escaped")
	}
	if _, body := h.get("/console/services/" + svc.ServiceID); strings.Contains(body, "tier=gold") {
		t.Error("a consumer sees the provider's service tags")
	}
	p := newHTTP(t, w.base)
	p.mustLogin(w.provider.Token())
	if _, body := p.get("/console/services/" + svc.ServiceID); !strings.Contains(body, "tier=gold") {
		t.Error("the provider does not see its service's tags")
	}
}
