package apiserver_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// listWorld is two consumer accounts' endpoints on two services of one
// provider: A has VPCs a1 and a2, B has b1; a1 holds endpoints of both
// services, some tagged env=prod.
type listWorld struct {
	provider, a, b *client.Client
	s1, s2         string
	a1, a2, b1     string
	eps            map[string]model.Endpoint // every endpoint, by ID
}

func newListWorld(t *testing.T, e *testenv.Env) *listWorld {
	t.Helper()
	w := &listWorld{eps: map[string]model.Endpoint{}}
	var aID, bID string
	w.provider, _ = e.Account(t, "lprov")
	w.a, aID = e.Account(t, "lcons-a")
	w.b, bID = e.Account(t, "lcons-b")
	zone := server0Zone(t, w.provider)
	pv, _, _ := listVPC(t, w.provider, zone, "192.168.0.0/16")
	for i, allowed := range [][]string{{aID, bID}, {aID}} {
		svc, err := w.provider.CreateService(bg, api.CreateServiceRequest{VpcID: pv, Ports: []int{80}, AutoAcceptEnabled: true, AllowedAccounts: allowed,
			Resources: []api.BackendSpec{{ZoneID: zone, IP: fmt.Sprintf("192.168.1.%d", 200+i)}}})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			w.s1 = svc.ServiceID
		} else {
			w.s2 = svc.ServiceID
		}
	}
	type group = struct {
		svc  string
		n    int
		tags int
	}
	mk := func(c *client.Client, cidr string, groups []group) string {
		vpc, vsw, sg := listVPC(t, c, zone, cidr)
		for _, g := range groups {
			for i := 0; i < g.n; i++ {
				req := api.CreateEndpointRequest{ServiceID: g.svc, VpcID: vpc, SecurityGroupIDs: []string{sg},
					Zones: []api.EndpointZoneRequest{{ZoneID: zone, VSwitchID: vsw}}}
				if i < g.tags {
					req.Tags = []api.Tag{{Key: "env", Value: "prod"}}
				}
				ep, err := c.CreateEndpoint(bg, req)
				if err != nil {
					t.Fatal(err)
				}
				w.eps[ep.EndpointID] = ep
			}
		}
		return vpc
	}
	w.a1 = mk(w.a, "10.1.0.0/16", []group{{w.s1, 5, 2}, {w.s2, 3, 1}})
	w.a2 = mk(w.a, "10.2.0.0/16", []group{{w.s1, 4, 1}})
	w.b1 = mk(w.b, "10.3.0.0/16", []group{{w.s1, 3, 1}})
	return w
}

// listVPC creates a VPC with one /24 vSwitch and a security group.
func listVPC(t *testing.T, c *client.Client, zone, cidr string) (vpc, vsw, sg string) {
	t.Helper()
	v, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: cidr})
	if err != nil {
		t.Fatal(err)
	}
	p := cidr[:len(cidr)-len("0.0/16")]
	s, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: v.VpcID, ZoneID: zone, CidrBlock: p + "1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: v.VpcID, Rules: []model.SecurityGroupRule{rule(80)}})
	if err != nil {
		t.Fatal(err)
	}
	return v.VpcID, s.VSwitchID, g.SecurityGroupID
}

// walk pages through path with maxResults max and returns the IDs in
// order; every page must carry totalCount want and, but for the last,
// exactly max items.
func walk[T any](t *testing.T, c *client.Client, path string, q url.Values, max, want int, id func(T) string) []string {
	t.Helper()
	var ids []string
	q.Set("maxResults", fmt.Sprint(max))
	for pages := 0; ; pages++ {
		if pages > want+1 {
			t.Fatalf("%s: more pages than items", path)
		}
		var page api.List[T]
		if err := c.Do(bg, "GET", path+"?"+q.Encode(), nil, &page); err != nil {
			t.Fatalf("%s?%s: %v", path, q.Encode(), err)
		}
		if page.TotalCount != want {
			t.Errorf("%s?%s: totalCount %d, want %d", path, q.Encode(), page.TotalCount, want)
		}
		for _, it := range page.Items {
			ids = append(ids, id(it))
		}
		if page.NextToken == "" {
			if len(page.Items) > max {
				t.Errorf("%s: last page of %d items, max %d", path, len(page.Items), max)
			}
			return ids
		}
		if len(page.Items) != max {
			t.Errorf("%s?%s: a page with a next token holds %d items, want %d", path, q.Encode(), len(page.Items), max)
		}
		q.Set("nextToken", page.NextToken)
	}
}

// TestListPagination pages every endpoint list (unfiltered, by VPC, by
// service, by both, by tag, another account's VPC) and a service's
// connections with page sizes 1, 2, 5 and 100: the pages together hold
// exactly the caller's matching endpoints, each once, in ID order; every
// page says the total; another account's endpoints never appear, across
// page boundaries where they interleave by ID; each listed endpoint is
// what its GET answers (live status included); a deleted endpoint leaves
// the list and the count.
func TestListPagination(t *testing.T) {
	e := startControlPlane(t)
	w := newListWorld(t, e)
	match := func(acct *client.Client, keep func(model.Endpoint) bool) []string {
		me := mustWhoAmI(t, acct).AccountID
		var out []string
		for id, ep := range w.eps {
			if ep.AccountID == me && keep(ep) {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	all := func(model.Endpoint) bool { return true }
	tagged := func(ep model.Endpoint) bool { return len(ep.Tags) > 0 }
	for _, tc := range []struct {
		name   string
		caller *client.Client
		q      url.Values
		keep   func(model.Endpoint) bool
	}{
		{"a all", w.a, url.Values{}, all},
		{"b all", w.b, url.Values{}, all},
		{"a vpc a1", w.a, url.Values{"vpcId": {w.a1}}, func(ep model.Endpoint) bool { return ep.VpcID == w.a1 }},
		{"a vpc a2", w.a, url.Values{"vpcId": {w.a2}}, func(ep model.Endpoint) bool { return ep.VpcID == w.a2 }},
		{"a service s1", w.a, url.Values{"serviceId": {w.s1}}, func(ep model.Endpoint) bool { return ep.ServiceID == w.s1 }},
		{"b service s1", w.b, url.Values{"serviceId": {w.s1}}, func(ep model.Endpoint) bool { return ep.ServiceID == w.s1 }},
		{"a service s1 in a1", w.a, url.Values{"serviceId": {w.s1}, "vpcId": {w.a1}}, func(ep model.Endpoint) bool { return ep.ServiceID == w.s1 && ep.VpcID == w.a1 }},
		{"a tag", w.a, url.Values{"tag": {"env=prod"}}, tagged},
		{"a tag in a1", w.a, url.Values{"tag": {"env=prod"}, "vpcId": {w.a1}}, func(ep model.Endpoint) bool { return tagged(ep) && ep.VpcID == w.a1 }},
		{"a tag and service s2", w.a, url.Values{"tag": {"env"}, "serviceId": {w.s2}}, func(ep model.Endpoint) bool { return tagged(ep) && ep.ServiceID == w.s2 }},
		{"a in b's vpc", w.a, url.Values{"vpcId": {w.b1}}, func(model.Endpoint) bool { return false }},
		{"b in a's vpc, service s1", w.b, url.Values{"vpcId": {w.a1}, "serviceId": {w.s1}}, func(model.Endpoint) bool { return false }},
		{"b service s2 (not allowed)", w.b, url.Values{"serviceId": {w.s2}}, func(model.Endpoint) bool { return false }},
		{"a no such vpc", w.a, url.Values{"vpcId": {"vpc-nosuch"}}, func(model.Endpoint) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := match(tc.caller, tc.keep)
			for _, max := range []int{1, 2, 5, 100} {
				q := url.Values{}
				for k, v := range tc.q {
					q[k] = v
				}
				got := walk(t, tc.caller, "/v1/endpoints", q, max, len(want), func(ep model.Endpoint) string { return ep.EndpointID })
				if !slices.Equal(got, want) {
					t.Fatalf("maxResults %d: listed %v, want %v", max, got, want)
				}
			}
		})
	}

	// The provider sees every account's endpoints of its service, paged.
	var s1 []string
	for id, ep := range w.eps {
		if ep.ServiceID == w.s1 {
			s1 = append(s1, id)
		}
	}
	slices.Sort(s1)
	for _, max := range []int{1, 3, 100} {
		got := walk(t, w.provider, "/v1/services/"+w.s1+"/connections", url.Values{}, max, len(s1), func(c api.Connection) string { return c.EndpointID })
		if !slices.Equal(got, s1) {
			t.Fatalf("connections, maxResults %d: %v, want %v", max, got, s1)
		}
	}
	_, err := w.a.ListConnections(bg, w.s1)
	wantCode(t, err, "EndpointServiceNotFound")

	// Other lists read through the account's index: A's VPCs and
	// security groups, B sees none of them.
	for _, c := range []struct {
		cl   *client.Client
		want int
	}{{w.a, 2}, {w.b, 1}} {
		walk(t, c.cl, "/v1/vpcs", url.Values{}, 1, c.want, func(v model.VPC) string { return v.VpcID })
		walk(t, c.cl, "/v1/security-groups", url.Values{}, 1, c.want, func(v model.SecurityGroup) string { return v.SecurityGroupID })
	}

	// A listed endpoint is what its GET says (live status included; a
	// controller may change one in between, so a difference is read again).
	for try := 0; ; try++ {
		diff := listGetDiff(t, w.a)
		if diff == "" {
			break
		}
		if try == 5 {
			t.Fatal(diff)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// A deleted endpoint leaves the list and its count.
	gone := match(w.a, func(ep model.Endpoint) bool { return ep.VpcID == w.a2 })[0]
	if _, err := w.a.DeleteEndpoint(bg, gone); err != nil {
		t.Fatal(err)
	}
	delete(w.eps, gone)
	want := match(w.a, all)
	if got := walk(t, w.a, "/v1/endpoints", url.Values{}, 2, len(want), func(ep model.Endpoint) string { return ep.EndpointID }); !slices.Equal(got, want) {
		t.Fatalf("after a delete: %v, want %v", got, want)
	}

	// Bad paging parameters are refused on every path.
	for _, path := range []string{"/v1/endpoints?maxResults=0", "/v1/endpoints?maxResults=101", "/v1/endpoints?nextToken=!!!",
		"/v1/endpoints?vpcId=" + w.b1 + "&maxResults=x", "/v1/endpoints?serviceId=" + w.s1 + "&nextToken=!!!",
		"/v1/vpcs?maxResults=101"} {
		var page api.List[model.Endpoint]
		err := w.a.Do(bg, "GET", path, nil, &page)
		if ae, ok := err.(*api.Error); !ok || (ae.Code != "InvalidParameter.MaxResults" && ae.Code != "InvalidParameter.NextToken") {
			t.Errorf("%s: %v", path, err)
		}
	}
	var page api.List[api.Connection]
	err = w.provider.Do(bg, "GET", "/v1/services/"+w.s1+"/connections?nextToken=!!!", nil, &page)
	wantCode(t, err, "InvalidParameter.NextToken")
}

// listGetDiff lists the caller's endpoints and GETs each: the first
// difference, or "".
func listGetDiff(t *testing.T, c *client.Client) string {
	listed, err := c.ListEndpoints(bg, client.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range listed {
		got, err := c.GetEndpoint(bg, ep.EndpointID)
		if err != nil {
			t.Fatal(err)
		}
		lj, _ := json.Marshal(ep)
		gj, _ := json.Marshal(got)
		if string(lj) != string(gj) {
			return fmt.Sprintf("listed %s\nGET    %s", lj, gj)
		}
	}
	return ""
}

// seedEndpoints writes n copies of tmpl (new IDs, ENI IDs and domains)
// straight to the store, with their account, VPC and service index keys
// and a ready zone report each, 20 endpoints a transaction: the state n
// creates would leave, in seconds rather than minutes. It returns the IDs.
func seedEndpoints(t testing.TB, e *testenv.Env, tmpl model.Endpoint, n int) []string {
	t.Helper()
	st := e.Store
	var ids []string
	for len(ids) < n {
		txn := st.NewTxn()
		for j := 0; j < 20 && len(ids) < n; j++ {
			ep := tmpl
			ep.EndpointID = model.NewID(model.PrefixEndpoint)
			ep.EndpointDomain = ep.EndpointID + "." + ep.ServiceID + ".seeded"
			ep.Zones = slices.Clone(tmpl.Zones)
			for k := range ep.Zones {
				ep.Zones[k].EniID = model.NewID(model.PrefixENI)
				ep.Zones[k].ZoneDomain = ep.EndpointID + "-" + ep.Zones[k].ZoneID + ".seeded"
				txn.Put(st.ReportKey(ep.Zones[k].ZoneID, ep.EndpointID), model.ZoneReport{EndpointID: ep.EndpointID, ZoneID: ep.Zones[k].ZoneID,
					Ready: true, Healthy: true, Backends: map[string]bool{"192.168.1.200:80": true}})
			}
			txn.Create(st.ResourceKey(store.KindEndpoint, ep.EndpointID), ep).
				Index(st.OwnedKey(ep.AccountID, store.KindEndpoint, ep.EndpointID)).
				Index(st.VPCEndpointKey(ep.VpcID, ep.EndpointID)).
				Index(st.ServiceEndpointKey(ep.ServiceID, ep.EndpointID))
			ids = append(ids, ep.EndpointID)
		}
		if ok, err := txn.Commit(bg); err != nil || !ok {
			t.Fatalf("seed: %v %v", ok, err)
		}
	}
	return ids
}

// seedWorld is one provider's service and one consumer's VPC with one
// endpoint created through the API (the template of seedEndpoints).
func seedWorld(t testing.TB, e *testenv.Env, quota int) (*client.Client, model.Endpoint, api.CreateEndpointRequest) {
	t.Helper()
	p, _ := e.Account(t, "sprov")
	c, cID := e.Account(t, "scons")
	if _, err := e.Admin.SetQuota(bg, cID, api.SetQuotaRequest{EndpointsPerVpc: &quota}); err != nil {
		t.Fatal(err)
	}
	reg, err := p.DescribeRegion(bg)
	if err != nil || len(reg.Zones) == 0 {
		t.Fatalf("region: %v %+v", err, reg)
	}
	zone := reg.Zones[0].ZoneID
	pv, err := p.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "192.168.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: pv.VpcID, ZoneID: zone, CidrBlock: "192.168.1.0/24"}); err != nil {
		t.Fatal(err)
	}
	svc, err := p.CreateService(bg, api.CreateServiceRequest{VpcID: pv.VpcID, Ports: []int{80}, AutoAcceptEnabled: true, AllowedAccounts: []string{cID},
		Resources: []api.BackendSpec{{ZoneID: zone, IP: "192.168.1.200"}}})
	if err != nil {
		t.Fatal(err)
	}
	cv, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	vsw, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: cv.VpcID, ZoneID: zone, CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := c.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: cv.VpcID, Rules: []model.SecurityGroupRule{rule(80)}})
	if err != nil {
		t.Fatal(err)
	}
	req := api.CreateEndpointRequest{ServiceID: svc.ServiceID, VpcID: cv.VpcID, SecurityGroupIDs: []string{sg.SecurityGroupID},
		Zones: []api.EndpointZoneRequest{{ZoneID: zone, VSwitchID: vsw.VSwitchID}}}
	ep, err := c.CreateEndpoint(bg, req)
	if err != nil {
		t.Fatal(err)
	}
	return c, ep, req
}
