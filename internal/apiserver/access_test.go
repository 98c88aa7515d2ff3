package apiserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/testenv"
)

// storeDump returns every key and value under the prefix except those that
// change without a write by the caller (agent reports, traffic and liveness).
func storeDump(t *testing.T, e *testenv.Env) map[string]string {
	t.Helper()
	out, err := e.Store.Dump(bg)
	if err != nil {
		t.Fatal(err)
	}
	// Leave out what the agents and the events controller write on their own.
	for k := range out {
		if strings.Contains(k, "/report/") || strings.Contains(k, "/agent/") || strings.Contains(k, "/traffic/") || strings.Contains(k, "/event/") || strings.HasSuffix(k, "/meta/events-cursor") ||
			strings.Contains(k, "/quotahit/") {
			delete(out, k)
		}
	}
	return out
}

func sameDump(t *testing.T, before, after map[string]string, what string) {
	t.Helper()
	for k, v := range after {
		if before[k] != v {
			t.Errorf("%s changed or added key %s", what, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			t.Errorf("%s deleted key %s", what, k)
		}
	}
}

// TestCrossAccountMatrix calls every route with another account's token on
// the first account's resources: nothing is revealed and nothing changes.
func TestCrossAccountMatrix(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16003})
	s.WaitEndpoint(t, testenv.Active)
	stranger, _ := e.Account(t, "stranger")
	key, err := s.Consumer.CreateAccessKey(bg)
	if err != nil {
		t.Fatal(err)
	}
	h := s.ProviderHosts[0]
	lb, err := s.Provider.CreateLoadBalancer(bg, api.CreateLoadBalancerRequest{VpcID: s.ProviderVPC.VpcID, Ports: []int{16003},
		Backends: []api.BackendSpec{{ZoneID: h.ZoneID, IP: h.IP.String()}}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{ // first path element -> a resource of provider or consumer
		"vpcs": s.ConsumerVPC.VpcID, "vswitches": s.ConsumerVSwitches[0].VSwitchID, "security-groups": s.SG.SecurityGroupID,
		"hosts": s.ConsumerHost.HostID, "services": s.Service.ServiceID, "endpoints": s.Endpoint.EndpointID,
		"access-keys": key.AccessKeyID, "load-balancers": lb.LoadBalancerID,
	}
	bodies := map[string]any{
		"authorize":        map[string]any{"rules": []map[string]any{{"portRange": "1/2", "sourceCidrIp": "0.0.0.0/0"}}},
		"revoke":           map[string]any{"rules": []map[string]any{{"portRange": "6001/6001", "sourceCidrIp": "192.168.0.0/16"}}},
		"allowed-accounts": map[string]any{"accountId": s.ConsumerID},
		"services":         map[string]any{"autoAcceptEnabled": true},
		"{endpoint}":       map[string]any{"bandwidth": 1}, // PATCH of a connection
		"endpoints":        map[string]any{"endpointName": "renamed"},
		"security-groups":  map[string]any{"securityGroupId": s.SG.SecurityGroupID},
		"zones":            map[string]any{"zoneId": s.ConsumerVSwitches[0].ZoneID, "vSwitchId": s.ConsumerVSwitches[0].VSwitchID},
		"load-balancers":   map[string]any{"loadBalancerId": lb.LoadBalancerID},
		"resource":         map[string]any{"resourceId": ""}, // a zone's pinned resource
		"ipv6-cidr":        map[string]any{},                 // AllocateVpcIpv6Cidr: privlink chooses
	}
	before := storeDump(t, e)
	for _, rt := range e.API.Routes() {
		method, path := rt[0], rt[1]
		if !strings.Contains(path, "{id}") {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(path, "/v1/"), "/")
		p := strings.Replace(path, "{id}", ids[parts[0]], 1)
		p = strings.Replace(p, "{endpoint}", s.Endpoint.EndpointID, 1)
		p = strings.Replace(p, "{account}", s.ConsumerID, 1)
		p = strings.Replace(p, "{sg}", s.SG.SecurityGroupID, 1)
		p = strings.Replace(p, "{zone}", s.ConsumerVSwitches[0].ZoneID, 1)
		p = strings.Replace(p, "{lb}", lb.LoadBalancerID, 1)
		var body any
		if method == http.MethodPost || method == http.MethodPatch {
			body = bodies[parts[len(parts)-1]]
			if body == nil {
				body = bodies[parts[0]]
			}
		}
		var out json.RawMessage
		err := stranger.Do(bg, method, p, body, &out)
		if err == nil {
			t.Errorf("%s %s as a stranger succeeded: %s", method, p, out)
			continue
		}
		ce, ok := err.(interface{ Error() string })
		if !ok || !strings.Contains(ce.Error(), "NotFound") || !strings.Contains(ce.Error(), "HTTP 404") {
			t.Errorf("%s %s as a stranger: want 404 NotFound, got %v", method, p, err)
		}
	}
	// The tag operations take their IDs in the body or query: a stranger
	// finds none of the five taggable types.
	tagged := map[string]string{api.ResourceVPC: s.ConsumerVPC.VpcID, api.ResourceVSwitch: s.ConsumerVSwitches[0].VSwitchID,
		api.ResourceSecurityGroup: s.SG.SecurityGroupID, api.ResourceService: s.Service.ServiceID, api.ResourceEndpoint: s.Endpoint.EndpointID}
	for rt, id := range tagged {
		_, err := stranger.TagResources(bg, api.TagResourcesRequest{ResourceType: rt, ResourceIDs: []string{id}, Tags: []api.Tag{{Key: "k", Value: "v"}}})
		wantNotFound(t, "TagResources "+rt, err)
		_, err = stranger.UntagResources(bg, api.UntagResourcesRequest{ResourceType: rt, ResourceIDs: []string{id}, All: true})
		wantNotFound(t, "UntagResources "+rt, err)
		_, err = stranger.ListTagResources(bg, rt, []string{id}, nil)
		wantNotFound(t, "ListTagResources "+rt, err)
		_, err = stranger.ChangeResourceGroup(bg, api.ChangeResourceGroupRequest{ResourceType: rt, ResourceID: id, ResourceGroupID: "rg-x"})
		wantNotFound(t, "ChangeResourceGroup "+rt, err)
	}
	sameDump(t, before, storeDump(t, e), "stranger requests")
	// The consumer may read the service (allow-listed) but not change it.
	if _, err := s.Consumer.GetService(bg, s.Service.ServiceID); err != nil {
		t.Errorf("allow-listed consumer cannot read the service: %v", err)
	}
	_, err = s.Consumer.DeleteService(bg, s.Service.ServiceID)
	wantCode(t, err, "EndpointServiceNotFound")
	_, err = s.Consumer.CreateAccount(bg, api.CreateAccountRequest{Name: "x"})
	wantCode(t, err, "Forbidden.AdminOnly")
	sameDump(t, before, storeDump(t, e), "consumer requests")
}

func TestAuth(t *testing.T) {
	e := startLoopback(t)
	for _, tok := range []string{"", "plk_wrong"} {
		_, err := e.Admin.WithToken(tok).ListVPCs(bg)
		if err == nil || !strings.Contains(err.Error(), "HTTP 401") || !strings.Contains(err.Error(), "InvalidToken") {
			t.Errorf("token %q: want 401 InvalidToken, got %v", tok, err)
		}
	}
	// Tokens are stored hashed: the admin token's text appears nowhere in etcd.
	for k, v := range storeDump(t, e) {
		if strings.Contains(k+v, e.Admin.Token()) {
			t.Errorf("token stored in clear at %s", k)
		}
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "NotFound") || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("%s as a stranger: want 404 NotFound, got %v", what, err)
	}
}
