package apiserver_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestValidation sends each invalid request and checks its code, and that
// no rejected request wrote anything.
func TestValidation(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16004, NoEndpoint: true})
	c := s.Consumer
	vpc, vsw0, vsw1 := s.ConsumerVPC.VpcID, s.ConsumerVSwitches[0], s.ConsumerVSwitches[1]
	sg := s.SG.SecurityGroupID
	zone0 := vsw0.ZoneID
	okZones := []api.EndpointZoneRequest{{ZoneID: zone0, VSwitchID: vsw0.VSwitchID}}
	ep := func(mut func(r *api.CreateEndpointRequest)) api.CreateEndpointRequest {
		r := api.CreateEndpointRequest{ServiceName: s.Service.Name, VpcID: vpc, SecurityGroupIDs: []string{sg}, Zones: okZones}
		mut(&r)
		return r
	}
	otherVPC, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	tooMany := make([]api.EndpointZoneRequest, 11)
	r1 := model.SecurityGroupRule{PortRange: "1/1", SourceCidr: "0.0.0.0/0"}
	r1Again := model.SecurityGroupRule{Protocol: "TCP", PortRange: "1", SourceCidr: "0.0.0.0/0", Policy: "Accept", Priority: 1}
	manyRules := make([]model.SecurityGroupRule, api.MaxRulesPerRequest+1)
	for i := range manyRules {
		manyRules[i] = model.SecurityGroupRule{PortRange: fmt.Sprintf("%d/%d", i+1, i+1), SourceCidr: "0.0.0.0/0"}
	}
	accounts := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%d", 1000000000000000+i)
		}
		return out
	}
	svcOK := func(mut func(r *api.CreateServiceRequest)) api.CreateServiceRequest {
		r := api.CreateServiceRequest{VpcID: vpc, Ports: []int{1}, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "192.168.1.9"}}}
		mut(&r)
		return r
	}
	authorize := "/v1/security-groups/" + sg + "/authorize"
	cases := []struct {
		name, path string
		body       any
		code       string
	}{
		{"vpc bad cidr", "/v1/vpcs", api.CreateVPCRequest{CidrBlock: "10.0.0.0/33"}, "InvalidParameter.CidrBlock"},
		{"vpc host bits", "/v1/vpcs", api.CreateVPCRequest{CidrBlock: "10.0.0.1/16"}, "InvalidParameter.CidrBlock"},
		{"vpc public", "/v1/vpcs", api.CreateVPCRequest{CidrBlock: "8.8.0.0/16"}, "InvalidParameter.CidrBlock"},
		{"vpc bad name", "/v1/vpcs", api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", Name: "9lives"}, "InvalidParameter.VpcName"},
		{"vpc unknown field", "/v1/vpcs", map[string]any{"cidrBlock": "10.0.0.0/16", "bogus": 1}, "InvalidParameter.Body"},
		{"vpc not json", "/v1/vpcs", "not an object", "InvalidParameter.Body"},
		{"vpc adopt not admin", "/v1/vpcs", api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", NetnsPath: "/proc/1/ns/net"}, "Forbidden.AdoptNamespace"},
		{"vsw outside vpc", "/v1/vswitches", api.CreateVSwitchRequest{VpcID: vpc, ZoneID: zone0, CidrBlock: "10.1.0.0/24"}, "InvalidParameter.CidrBlock"},
		{"vsw overlaps", "/v1/vswitches", api.CreateVSwitchRequest{VpcID: vpc, ZoneID: zone0, CidrBlock: "192.168.1.0/25"}, "InvalidParameter.CidrBlock"},
		{"vsw unknown zone", "/v1/vswitches", api.CreateVSwitchRequest{VpcID: vpc, ZoneID: "cn-beijing-a", CidrBlock: "192.168.9.0/24"}, "InvalidZoneId.NotFound"},
		{"vsw no zone", "/v1/vswitches", api.CreateVSwitchRequest{VpcID: vpc, CidrBlock: "192.168.9.0/24"}, "InvalidParameter.ZoneId"},
		{"vsw unknown vpc", "/v1/vswitches", api.CreateVSwitchRequest{VpcID: "vpc-aaaaaaaaaaaaaaaaaaaa", ZoneID: zone0, CidrBlock: "192.168.9.0/24"}, "VpcNotFound"},
		{"sg bad rule port", "/v1/security-groups", api.CreateSecurityGroupRequest{VpcID: vpc, Rules: []model.SecurityGroupRule{{PortRange: "0/70000", SourceCidr: "0.0.0.0/0"}}}, "InvalidParameter.PortRange"},
		{"sg bad policy", "/v1/security-groups", api.CreateSecurityGroupRequest{VpcID: vpc, Rules: []model.SecurityGroupRule{{PortRange: "1/2", SourceCidr: "0.0.0.0/0", Policy: "maybe"}}}, "InvalidParameter.Policy"},
		{"sg bad source", "/v1/security-groups", api.CreateSecurityGroupRequest{VpcID: vpc, Rules: []model.SecurityGroupRule{{PortRange: "1/2", SourceCidr: "nope"}}}, "InvalidParameter.SourceCidrIp"},
		{"sg sctp", "/v1/security-groups", api.CreateSecurityGroupRequest{VpcID: vpc, Rules: []model.SecurityGroupRule{{Protocol: "sctp", PortRange: "1/2", SourceCidr: "0.0.0.0/0"}}}, "InvalidParameter.IpProtocol"},
		{"host ip outside", "/v1/hosts", api.CreateHostRequest{VSwitchID: vsw0.VSwitchID, IP: "192.168.2.50"}, "InvalidParameter.PrivateIpAddress"},
		{"host ip gateway", "/v1/hosts", api.CreateHostRequest{VSwitchID: vsw0.VSwitchID, IP: vsw0.Gateway.String()}, "InvalidParameter.PrivateIpAddress"},
		{"host ip broadcast", "/v1/hosts", api.CreateHostRequest{VSwitchID: vsw0.VSwitchID, IP: "192.168.1.255"}, "InvalidParameter.PrivateIpAddress"},
		{"host ip taken", "/v1/hosts", api.CreateHostRequest{VSwitchID: vsw0.VSwitchID, IP: s.ConsumerHost.IP.String()}, "InvalidIpAddress.AlreadyUsed"},
		{"svc port 0", "/v1/services", api.CreateServiceRequest{Ports: []int{0}, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "127.0.0.1", Port: 1}}}, "InvalidParameter.Ports"},
		{"svc port big", "/v1/services", api.CreateServiceRequest{Ports: []int{65536}, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "127.0.0.1", Port: 1}}}, "InvalidParameter.Ports"},
		{"svc no backend", "/v1/services", api.CreateServiceRequest{Ports: []int{1}}, "InvalidParameter.Resources"},
		{"svc backend zone", "/v1/services", api.CreateServiceRequest{Ports: []int{1}, Resources: []api.BackendSpec{{ZoneID: "x", IP: "127.0.0.1"}}}, "InvalidZoneId.NotFound"},
		{"svc backend ip", "/v1/services", api.CreateServiceRequest{Ports: []int{1}, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "fe80::1%eth0"}}}, "InvalidParameter.Resources.Ip"},
		{"svc backend outside vpc", "/v1/services", api.CreateServiceRequest{VpcID: vpc, Ports: []int{1}, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "10.0.0.1"}}}, "InvalidParameter.Resources.Ip"},
		{"svc host network not admin", "/v1/services", api.CreateServiceRequest{Ports: []int{1}, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "10.1.2.3"}}}, "Forbidden.HostNetworkBackend"},
		{"svc backend gateway", "/v1/services", api.CreateServiceRequest{VpcID: vpc, Ports: []int{1}, Resources: []api.BackendSpec{{ZoneID: zone0, IP: vsw0.Gateway.String()}}}, "InvalidParameter.Resources.Ip"},
		{"svc backend wrong zone", "/v1/services", api.CreateServiceRequest{VpcID: vpc, Ports: []int{1}, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "192.168.2.9"}}}, "InvalidParameter.Resources.ZoneId"},
		{"vpc spans public", "/v1/vpcs", api.CreateVPCRequest{CidrBlock: "192.168.0.0/13"}, "InvalidParameter.CidrBlock"},
		{"sg mapped ipv6 source", "/v1/security-groups", api.CreateSecurityGroupRequest{VpcID: vpc, Rules: []model.SecurityGroupRule{{PortRange: "1/2", SourceCidr: "::ffff:0.0.0.0/96"}}}, "InvalidParameter.SourceCidrIp"},
		{"svc bandwidth", "/v1/services", api.CreateServiceRequest{Ports: []int{1}, ConnectBandwidth: -1, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "127.0.0.1"}}}, "InvalidParameter.ConnectBandwidth"},
		{"svc unknown tlv", "/v1/services", api.CreateServiceRequest{Ports: []int{1}, ProxyProtocolTLVs: []string{"accountId"}, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "127.0.0.1"}}}, "InvalidParameter.ProxyProtocolTlvs"},
		{"svc tlv twice", "/v1/services", api.CreateServiceRequest{Ports: []int{1}, ProxyProtocolTLVs: []string{"vpcId", "vpcId"}, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "127.0.0.1"}}}, "InvalidParameter.ProxyProtocolTlvs"},
		{"svc max conns negative", "/v1/services", api.CreateServiceRequest{Ports: []int{1}, MaxConnsPerEndpoint: -1, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "127.0.0.1"}}}, "InvalidParameter.MaxConnectionsPerEndpoint"},
		{"svc conn rate too big", "/v1/services", api.CreateServiceRequest{Ports: []int{1}, NewConnsPerSecond: api.MaxEndpointConnLimit + 1, Resources: []api.BackendSpec{{ZoneID: zone0, IP: "127.0.0.1"}}}, "InvalidParameter.NewConnectionsPerSecond"},
		{"svc too many backends", "/v1/services", api.CreateServiceRequest{Ports: []int{1}, Resources: backends(zone0, 21)}, "QuotaExceeded.BackendsPerService"},
		{"ep unknown service", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) {
			r.ServiceName = "com.privlink.cn-hangzhou.epsrv-aaaaaaaaaaaaaaaaaaaa"
		}), "EndpointServiceNotFound"},
		{"ep zone twice", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) { r.Zones = append(r.Zones, r.Zones[0]) }), "InvalidParameter.Zones.ZoneId"},
		{"ep 11 zones", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) { r.Zones = tooMany }), "QuotaExceeded.ZonesPerEndpoint"},
		{"ep no sg", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) { r.SecurityGroupIDs = nil }), "InvalidParameter.SecurityGroupIds"},
		{"ep sg twice", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) {
			r.SecurityGroupIDs = append(r.SecurityGroupIDs, r.SecurityGroupIDs[0])
		}), "InvalidParameter.SecurityGroupIds"},
		{"ep too many sgs", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) { r.SecurityGroupIDs = make([]string, 121) }), "QuotaExceeded.SecurityGroupsPerEndpoint"},
		{"ep vsw zone mismatch", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) {
			r.Zones = []api.EndpointZoneRequest{{ZoneID: zone0, VSwitchID: vsw1.VSwitchID}}
		}), "InvalidParameter.Zones.VSwitchId"},
		{"ep zone twice", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) {
			r.Zones = []api.EndpointZoneRequest{{ZoneID: zone0, VSwitchID: vsw0.VSwitchID}, {ZoneID: zone0, VSwitchID: vsw0.VSwitchID}}
		}), "InvalidParameter.Zones.ZoneId"},
		{"ep ip taken", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) {
			r.Zones = []api.EndpointZoneRequest{{ZoneID: zone0, VSwitchID: vsw0.VSwitchID, IP: s.ConsumerHost.IP.String()}}
		}), "InvalidIpAddress.AlreadyUsed"},
		{"ep sg other vpc", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) { r.VpcID = otherVPC.VpcID }), "InvalidParameter.SecurityGroupIds"},
		{"vpc netns path too long", "/v1/vpcs", api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", NetnsPath: "/" + strings.Repeat("n", api.MaxNetnsPath)}, "InvalidParameter.NetnsPath"},
		{"sg rule twice", "/v1/security-groups", api.CreateSecurityGroupRequest{VpcID: vpc, Rules: []model.SecurityGroupRule{r1, r1}}, "InvalidParameter.Rules"},
		{"sg rule twice once normalized", "/v1/security-groups", api.CreateSecurityGroupRequest{VpcID: vpc, Rules: []model.SecurityGroupRule{r1, r1Again}}, "InvalidParameter.Rules"},
		{"sg too many rules", "/v1/security-groups", api.CreateSecurityGroupRequest{VpcID: vpc, Rules: manyRules}, "InvalidParameter.Rules"},
		{"authorize rule twice", authorize, api.RulesRequest{Rules: []model.SecurityGroupRule{r1Again, r1}}, "InvalidParameter.Rules"},
		{"authorize too many rules", authorize, api.RulesRequest{Rules: manyRules}, "InvalidParameter.Rules"},
		{"svc port twice", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.Ports = []int{1, 2, 1} }), "InvalidParameter.Ports"},
		{"svc too many ports", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.Ports = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11} }), "InvalidParameter.Ports"},
		{"svc udp port 0", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.UDPPorts = []int{0} }), "InvalidParameter.UdpPorts"},
		{"svc udp port big", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.UDPPorts = []int{65536} }), "InvalidParameter.UdpPorts"},
		{"svc udp port twice", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.UDPPorts = []int{53, 53} }), "InvalidParameter.UdpPorts"},
		{"svc too many tcp+udp ports", "/v1/services", svcOK(func(r *api.CreateServiceRequest) {
			r.Ports, r.UDPPorts = []int{1, 2, 3, 4, 5, 6}, []int{1, 2, 3, 4, 5}
		}), "InvalidParameter.UdpPorts"},
		{"svc udp idle timeout", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.UDPPorts, r.UDPIdleTimeout = []int{53}, 86401 }), "InvalidParameter.UdpIdleTimeoutSeconds"},
		{"svc udp options without udp", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.UDPIdleTimeout = 30 }), "InvalidParameter.UdpPorts"},
		{"svc udp probe without expect", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.UDPPorts, r.UDPHealthCheckReq = []int{53}, "ping" }), "InvalidParameter.UdpHealthCheckExp"},
		{"svc udp probe too long", "/v1/services", svcOK(func(r *api.CreateServiceRequest) {
			r.UDPPorts, r.UDPHealthCheckReq, r.UDPHealthCheckExp = []int{53}, strings.Repeat("p", 501), "x"
		}), "InvalidParameter.UdpHealthCheckReq"},
		{"svc udp with load balancer", "/v1/services", api.CreateServiceRequest{VpcID: vpc, UDPPorts: []int{53}, LoadBalancerIDs: []string{"lb-aaaaaaaaaaaaaaaaaaaa"}}, "InvalidParameter.UdpPorts"},
		{"sg unknown protocol", "/v1/security-groups", api.CreateSecurityGroupRequest{VpcID: vpc, Rules: []model.SecurityGroupRule{{Protocol: "icmp", PortRange: "1/2", SourceCidr: "0.0.0.0/0"}}}, "InvalidParameter.IpProtocol"},
		{"svc backend twice", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.Resources = append(r.Resources, r.Resources[0]) }), "InvalidParameter.Resources"},
		{"svc account twice", "/v1/services", svcOK(func(r *api.CreateServiceRequest) {
			r.AllowedAccounts = []string{"1000000000000001", "1000000000000001"}
		}), "InvalidParameter.AllowedAccounts"},
		{"svc allow-list too long", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.AllowedAccounts = accounts(api.MaxAllowedAccounts + 1) }), "QuotaExceeded.AllowedAccountsPerService"},
		{"svc description too long", "/v1/services", svcOK(func(r *api.CreateServiceRequest) { r.Description = strings.Repeat("d", api.MaxDescription+1) }), "InvalidParameter.ServiceDescription"},
		{"vpc description too long", "/v1/vpcs", api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", Description: strings.Repeat("d", api.MaxDescription+1)}, "InvalidParameter.Description"},
		{"vpc description control char", "/v1/vpcs", api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", Description: "a\x00b"}, "InvalidParameter.Description"},
		{"ep description too long", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) { r.Description = strings.Repeat("d", api.MaxDescription+1) }), "InvalidParameter.EndpointDescription"},
		{"ep description control char", "/v1/endpoints", ep(func(r *api.CreateEndpointRequest) { r.Description = "line\nbreak" }), "InvalidParameter.EndpointDescription"},
		{"list maxResults", "/v1/vpcs?maxResults=0", nil, "InvalidParameter.MaxResults"},
		{"list nextToken", "/v1/vpcs?nextToken=!!!", nil, "InvalidParameter.NextToken"},
	}
	before := storeDump(t, e)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if tc.body == nil {
				method = "GET"
			}
			err := c.Do(bg, method, tc.path, tc.body, nil)
			wantCode(t, err, tc.code)
		})
	}
	sameDump(t, before, storeDump(t, e), "rejected requests")

	// Dry runs validate and write nothing.
	var dry *api.DryRunResult
	if _, err := c.CreateEndpoint(bg, ep(func(r *api.CreateEndpointRequest) { r.DryRun = true })); !errors.As(err, &dry) || dry.Code != api.DryRunCode || dry.RequestID == "" {
		t.Fatalf("dry run: want a DryRunResult, got %v", err)
	}
	_, err = c.CreateEndpoint(bg, ep(func(r *api.CreateEndpointRequest) { r.DryRun = true; r.Zones = tooMany }))
	wantCode(t, err, "QuotaExceeded.ZonesPerEndpoint")
	sameDump(t, before, storeDump(t, e), "dry runs")
}

func backends(zone string, n int) []api.BackendSpec {
	var out []api.BackendSpec
	for i := 0; i < n; i++ {
		out = append(out, api.BackendSpec{ZoneID: zone, IP: fmt.Sprintf("127.0.0.%d", i+1), Port: 1})
	}
	return out
}

func TestQuotaEndpointsPerVPC(t *testing.T) {
	e := startLoopback(t)
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16005, NoEndpoint: true})
	req := api.CreateEndpointRequest{ServiceID: s.Service.ServiceID, VpcID: s.ConsumerVPC.VpcID, SecurityGroupIDs: []string{s.SG.SecurityGroupID},
		Zones: []api.EndpointZoneRequest{{ZoneID: s.ConsumerVSwitches[0].ZoneID, VSwitchID: s.ConsumerVSwitches[0].VSwitchID}}}
	for i := 0; i < api.MaxEndpointsPerVPC; i++ {
		if _, err := s.Consumer.CreateEndpoint(bg, req); err != nil {
			t.Fatalf("endpoint %d: %v", i, err)
		}
	}
	_, err := s.Consumer.CreateEndpoint(bg, req)
	wantCode(t, err, "QuotaExceeded.Endpoint")
	// Pagination walks all 50 in pages of 7 without repeats (raw paging;
	// the client's list methods page the same way).
	seen := map[string]bool{}
	next := ""
	for {
		var page api.List[model.Endpoint]
		if err := s.Consumer.Do(bg, "GET", "/v1/endpoints?maxResults=7&nextToken="+next, nil, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			if seen[it.EndpointID] {
				t.Fatalf("page repeats %s", it.EndpointID)
			}
			seen[it.EndpointID] = true
		}
		if page.NextToken == "" {
			break
		}
		next = page.NextToken
	}
	if len(seen) != api.MaxEndpointsPerVPC {
		t.Fatalf("paged %d endpoints, want %d", len(seen), api.MaxEndpointsPerVPC)
	}
}

// TestAllowListCap: a service allow-lists at most api.MaxAllowedAccounts
// accounts; adding one more is refused, re-adding a listed one is not.
func TestAllowListCap(t *testing.T) {
	e := startControlPlane(t)
	p, _ := e.Account(t, "provider")
	_, other := e.Account(t, "other")
	zone := server0Zone(t, p)
	listed := make([]string, api.MaxAllowedAccounts)
	for i := range listed {
		listed[i] = fmt.Sprintf("%d", 1000000000000000+i)
	}
	svc, err := p.CreateService(bg, api.CreateServiceRequest{Ports: []int{1}, AllowedAccounts: listed,
		Resources: []api.BackendSpec{{ZoneID: zone, IP: "127.0.0.1"}}})
	if err == nil {
		t.Fatal("a non-admin published a host-network backend")
	}
	svc, err = e.Admin.CreateService(bg, api.CreateServiceRequest{Ports: []int{1}, AllowedAccounts: listed,
		Resources: []api.BackendSpec{{ZoneID: zone, IP: "127.0.0.1"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Admin.AllowAccount(bg, svc.ServiceID, other)
	wantCode(t, err, "QuotaExceeded.AllowedAccountsPerService")
	if _, err := e.Admin.DisallowAccount(bg, svc.ServiceID, listed[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Admin.AllowAccount(bg, svc.ServiceID, other); err != nil {
		t.Fatalf("a freed allow-list slot: %v", err)
	}
	if _, err := e.Admin.AllowAccount(bg, svc.ServiceID, other); err != nil {
		t.Fatalf("re-adding a listed account: %v", err)
	}
}
