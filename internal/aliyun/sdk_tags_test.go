package aliyun_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/privlink/privlink/internal/aliyun"
	"github.com/privlink/privlink/internal/testenv"
)

// listTagResourcesResponse is Alibaba's documented ListTagResources answer
// (SDK v1.63.107 has no typed request for it: the SDK's CommonRequest).
type listTagResourcesResponse struct {
	RequestId    string
	NextToken    string
	TagResources []struct{ ResourceType, ResourceId, TagKey, TagValue string }
}

// common calls a PrivateLink action the typed SDK lacks, with the SDK's
// own CommonRequest (signed by the same client).
func common(t *testing.T, e *testenv.Env, c *clients, action string, q map[string]string) (string, error) {
	t.Helper()
	r := requests.NewCommonRequest()
	r.Method, r.Scheme, r.Domain = "POST", "http", strings.TrimPrefix(e.URL(), "http://")
	r.Version, r.ApiName = aliyun.VersionPrivateLink, action
	for k, v := range q {
		r.QueryParams[k] = v
	}
	resp, err := c.PL.ProcessCommonRequest(r)
	if err != nil {
		return "", err
	}
	return resp.GetHttpContentString(), nil
}

// TestSDKTags: Tag.N and ResourceGroupId on the creates (VPC, vSwitch,
// security group, service), the tag filters of the lists, and
// TagResources, UntagResources, ListTagResources, ChangeResourceGroup on a
// service; another account's service is not found; bad tags get a code.
func TestSDKTags(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback"})
	zone := e.Config().Zones[0]
	aliceREST, _ := e.Account(t, "alice")
	bobREST, bobAccount := e.Account(t, "bob")
	bobID, _ := strconv.ParseInt(bobAccount, 10, 64)
	ak, err := aliceREST.CreateAccessKey(bg)
	must(t, "key", err)
	bk, err := bobREST.CreateAccessKey(bg)
	must(t, "key", err)
	alice, bob := akClients(t, e, ak.AccessKeyID, ak.AccessKeySecret), akClients(t, e, bk.AccessKeyID, bk.AccessKeySecret)

	cv := vpc.CreateCreateVpcRequest()
	cv.CidrBlock, cv.ResourceGroupId = "10.9.0.0/16", "rg-net"
	cv.Tag = &[]vpc.CreateVpcTag{{Key: "env", Value: "prod"}}
	v, err := alice.VPC.CreateVpc(cv)
	must(t, "CreateVpc", err)
	strict[vpc.CreateVpcResponse](t, "CreateVpc", v)
	if v.ResourceGroupId != "rg-net" {
		t.Fatalf("CreateVpc ResourceGroupId %q", v.ResourceGroupId)
	}
	plain := vpc.CreateCreateVpcRequest()
	plain.CidrBlock = "10.10.0.0/16"
	_, err = alice.VPC.CreateVpc(plain)
	must(t, "CreateVpc", err)
	dv := vpc.CreateDescribeVpcsRequest()
	dv.Tag = &[]vpc.DescribeVpcsTag{{Key: "env", Value: "prod"}}
	dvr, err := alice.VPC.DescribeVpcs(dv)
	must(t, "DescribeVpcs", err)
	if len(dvr.Vpcs.Vpc) != 1 || dvr.Vpcs.Vpc[0].VpcId != v.VpcId {
		t.Fatalf("DescribeVpcs by tag: %+v", dvr.Vpcs.Vpc)
	}
	dv = vpc.CreateDescribeVpcsRequest()
	dv.ResourceGroupId = "rg-other"
	if dvr, err = alice.VPC.DescribeVpcs(dv); err != nil || len(dvr.Vpcs.Vpc) != 0 {
		t.Fatalf("DescribeVpcs of another group: %+v %v", dvr, err)
	}

	cs := vpc.CreateCreateVSwitchRequest()
	cs.VpcId, cs.ZoneId, cs.CidrBlock = v.VpcId, zone, "10.9.1.0/24"
	cs.Tag = &[]vpc.CreateVSwitchTag{{Key: "tier", Value: "db"}}
	vsw, err := alice.VPC.CreateVSwitch(cs)
	must(t, "CreateVSwitch", err)
	ds := vpc.CreateDescribeVSwitchesRequest()
	ds.Tag = &[]vpc.DescribeVSwitchesTag{{Key: "tier", Value: "db"}}
	dsr, err := alice.VPC.DescribeVSwitches(ds)
	must(t, "DescribeVSwitches", err)
	if len(dsr.VSwitches.VSwitch) != 1 || dsr.VSwitches.VSwitch[0].VSwitchId != vsw.VSwitchId {
		t.Fatalf("DescribeVSwitches by tag: %+v", dsr.VSwitches.VSwitch)
	}

	sg := ecs.CreateCreateSecurityGroupRequest()
	sg.VpcId, sg.ResourceGroupId = v.VpcId, "rg-net"
	sg.Tag = &[]ecs.CreateSecurityGroupTag{{Key: "aliyun-x", Value: "1"}}
	_, err = alice.ECS.CreateSecurityGroup(sg)
	wantCode(t, "CreateSecurityGroup with a reserved key", err, "InvalidParameter.Tags.Key", 400)
	sg.Tag = &[]ecs.CreateSecurityGroupTag{{Key: "team", Value: "a"}}
	sgr, err := alice.ECS.CreateSecurityGroup(sg)
	must(t, "CreateSecurityGroup", err)
	dg := ecs.CreateDescribeSecurityGroupsRequest()
	dg.Tag = &[]ecs.DescribeSecurityGroupsTag{{Key: "team", Value: "a"}}
	dgr, err := alice.ECS.DescribeSecurityGroups(dg)
	must(t, "DescribeSecurityGroups", err)
	if len(dgr.SecurityGroups.SecurityGroup) != 1 || dgr.SecurityGroups.SecurityGroup[0].SecurityGroupId != sgr.SecurityGroupId {
		t.Fatalf("DescribeSecurityGroups by tag: %+v", dgr.SecurityGroups.SecurityGroup)
	}

	// VPC's and ECS's own tag actions, typed in the SDK.
	vt := vpc.CreateTagResourcesRequest()
	vt.ResourceType, vt.ResourceId = "VSWITCH", &[]string{vsw.VSwitchId}
	vt.Tag = &[]vpc.TagResourcesTag{{Key: "owner", Value: "net"}}
	_, err = bob.VPC.TagResources(vt)
	wantCode(t, "vpc TagResources as bob", err, "InvalidVSwitchId.NotFound", 400)
	vtr, err := alice.VPC.TagResources(vt)
	must(t, "vpc TagResources", err)
	strict[vpc.TagResourcesResponse](t, "vpc TagResources", vtr)
	vl := vpc.CreateListTagResourcesRequest()
	vl.ResourceType, vl.ResourceId = "vswitch", &[]string{vsw.VSwitchId}
	vlr, err := alice.VPC.ListTagResources(vl)
	must(t, "vpc ListTagResources", err)
	strict[vpc.ListTagResourcesResponse](t, "vpc ListTagResources", vlr)
	if got := vlr.TagResources.TagResource; len(got) != 2 || got[0].TagKey != "owner" || got[0].ResourceType != "VSWITCH" || got[1].TagKey != "tier" {
		t.Fatalf("vpc ListTagResources: %+v", got)
	}
	vu := vpc.CreateUnTagResourcesRequest()
	vu.ResourceType, vu.ResourceId, vu.TagKey = "VSWITCH", &[]string{vsw.VSwitchId}, &[]string{"owner"}
	vur, err := alice.VPC.UnTagResources(vu)
	must(t, "vpc UnTagResources", err)
	strict[vpc.UnTagResourcesResponse](t, "vpc UnTagResources", vur)
	if vlr, err = alice.VPC.ListTagResources(vl); err != nil || len(vlr.TagResources.TagResource) != 1 {
		t.Fatalf("after vpc UnTagResources: %+v %v", vlr, err)
	}
	et0 := ecs.CreateTagResourcesRequest()
	et0.ResourceType, et0.ResourceId = "securitygroup", &[]string{sgr.SecurityGroupId}
	et0.Tag = &[]ecs.TagResourcesTag{{Key: "extra", Value: "1"}}
	_, err = alice.ECS.TagResources(et0)
	must(t, "ecs TagResources", err)
	el := ecs.CreateListTagResourcesRequest()
	el.ResourceType, el.ResourceId = "securitygroup", &[]string{sgr.SecurityGroupId}
	elr, err := alice.ECS.ListTagResources(el)
	must(t, "ecs ListTagResources", err)
	strict[ecs.ListTagResourcesResponse](t, "ecs ListTagResources", elr)
	if len(elr.TagResources.TagResource) != 2 {
		t.Fatalf("ecs ListTagResources: %+v", elr.TagResources)
	}
	eu := ecs.CreateUntagResourcesRequest()
	eu.ResourceType, eu.ResourceId, eu.All = "securitygroup", &[]string{sgr.SecurityGroupId}, requests.NewBoolean(true)
	_, err = bob.ECS.UntagResources(eu)
	wantCode(t, "ecs UntagResources as bob", err, "InvalidSecurityGroupId.NotFound", 400)
	eur, err := alice.ECS.UntagResources(eu)
	must(t, "ecs UntagResources", err)
	strict[ecs.UntagResourcesResponse](t, "ecs UntagResources", eur)
	if elr, err = alice.ECS.ListTagResources(el); err != nil || len(elr.TagResources.TagResource) != 0 {
		t.Fatalf("after ecs UntagResources All: %+v %v", elr, err)
	}

	// A service created with tags and a group, then retagged.
	csv := privatelink.CreateCreateVpcEndpointServiceRequest()
	csv.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "backend", ResourceId: "10.9.1.10:7001", ZoneId: zone}}
	csv.ResourceGroupId = "rg-svc"
	csv.Tag = &[]privatelink.CreateVpcEndpointServiceTag{{Key: "env", Value: "prod"}}
	svc, err := alice.PL.CreateVpcEndpointService(csv)
	must(t, "CreateVpcEndpointService", err)
	strict[privatelink.CreateVpcEndpointServiceResponse](t, "CreateVpcEndpointService", svc)
	if svc.ResourceGroupId != "rg-svc" {
		t.Fatalf("CreateVpcEndpointService ResourceGroupId %q", svc.ResourceGroupId)
	}
	tr := privatelink.CreateTagResourcesRequest()
	tr.ResourceType, tr.ResourceId = "VpcEndpointService", &[]string{svc.ServiceId}
	tr.Tag = &[]privatelink.TagResourcesTag{{Key: "team", Value: "db"}}
	_, err = bob.PL.TagResources(tr)
	wantCode(t, "TagResources as bob", err, "EndpointServiceNotFound", 400)
	trr, err := alice.PL.TagResources(tr)
	must(t, "TagResources", err)
	strict[privatelink.TagResourcesResponse](t, "TagResources", trr)

	ls := privatelink.CreateListVpcEndpointServicesRequest()
	ls.Tag = &[]privatelink.ListVpcEndpointServicesTag{{Key: "team", Value: "db"}}
	lsr, err := alice.PL.ListVpcEndpointServices(ls)
	must(t, "ListVpcEndpointServices", err)
	strict[privatelink.ListVpcEndpointServicesResponse](t, "ListVpcEndpointServices", lsr)
	if len(lsr.Services) != 1 || len(lsr.Services[0].Tags) != 2 || lsr.Services[0].ResourceGroupId != "rg-svc" {
		t.Fatalf("ListVpcEndpointServices by tag: %+v", lsr.Services)
	}
	ls.Tag = &[]privatelink.ListVpcEndpointServicesTag{{Key: "team", Value: "web"}}
	if lsr, err = alice.PL.ListVpcEndpointServices(ls); err != nil || len(lsr.Services) != 0 {
		t.Fatalf("ListVpcEndpointServices by another value: %+v %v", lsr, err)
	}

	body, err := common(t, e, alice, "ListTagResources", map[string]string{"ResourceType": "VpcEndpointService", "ResourceId.1": svc.ServiceId, "MaxResults": "1"})
	must(t, "ListTagResources", err)
	lt := strictBody[listTagResourcesResponse](t, "ListTagResources", body)
	if len(lt.TagResources) != 1 || lt.NextToken == "" || lt.TagResources[0].TagKey != "env" || lt.TagResources[0].ResourceType != "VpcEndpointService" {
		t.Fatalf("ListTagResources page 1: %s", body)
	}
	body, err = common(t, e, alice, "ListTagResources", map[string]string{"ResourceType": "VpcEndpointService", "Tag.1.Key": "env", "NextToken": lt.NextToken})
	must(t, "ListTagResources page 2", err)
	if lt = strictBody[listTagResourcesResponse](t, "ListTagResources", body); len(lt.TagResources) != 1 || lt.TagResources[0].TagKey != "team" || lt.NextToken != "" {
		t.Fatalf("ListTagResources page 2: %s", body)
	}
	_, err = common(t, e, bob, "UntagResources", map[string]string{"ResourceType": "VpcEndpointService", "ResourceId.1": svc.ServiceId, "All": "true"})
	wantCode(t, "UntagResources as bob", err, "EndpointServiceNotFound", 400)
	body, err = common(t, e, alice, "UntagResources", map[string]string{"ResourceType": "VpcEndpointService", "ResourceId.1": svc.ServiceId, "TagKey.1": "env"})
	must(t, "UntagResources", err)
	strictBody[struct{ RequestId string }](t, "UntagResources", body)
	body, _ = common(t, e, alice, "ListTagResources", map[string]string{"ResourceType": "VpcEndpointService", "ResourceId.1": svc.ServiceId})
	if lt = strictBody[listTagResourcesResponse](t, "ListTagResources", body); len(lt.TagResources) != 1 || lt.TagResources[0].TagKey != "team" {
		t.Fatalf("after UntagResources: %s", body)
	}
	if _, err = common(t, e, alice, "UntagResources", map[string]string{"ResourceType": "VpcEndpointService", "ResourceId.1": svc.ServiceId, "All": "true"}); err != nil {
		t.Fatal(err)
	}
	body, _ = common(t, e, alice, "ListTagResources", map[string]string{"ResourceType": "VpcEndpointService", "ResourceId.1": svc.ServiceId})
	if lt = strictBody[listTagResourcesResponse](t, "ListTagResources", body); len(lt.TagResources) != 0 {
		t.Fatalf("after UntagResources All: %s", body)
	}

	cg := privatelink.CreateChangeResourceGroupRequest()
	cg.ResourceType, cg.ResourceId, cg.ResourceGroupId, cg.ResourceRegionId = "vpcendpointservice", svc.ServiceId, "rg-moved", region
	_, err = bob.PL.ChangeResourceGroup(cg)
	wantCode(t, "ChangeResourceGroup as bob", err, "EndpointServiceNotFound", 400)
	cgr, err := alice.PL.ChangeResourceGroup(cg)
	must(t, "ChangeResourceGroup", err)
	strict[privatelink.ChangeResourceGroupResponse](t, "ChangeResourceGroup", cgr)
	gs := privatelink.CreateGetVpcEndpointServiceAttributeRequest()
	gs.ServiceId = svc.ServiceId
	gsr, err := alice.PL.GetVpcEndpointServiceAttribute(gs)
	must(t, "GetVpcEndpointServiceAttribute", err)
	strict[privatelink.GetVpcEndpointServiceAttributeResponse](t, "GetVpcEndpointServiceAttribute", gsr)
	if gsr.ResourceGroupId != "rg-moved" {
		t.Fatalf("after ChangeResourceGroup: %q", gsr.ResourceGroupId)
	}
	tr.ResourceType = "Vpc"
	_, err = alice.PL.TagResources(tr)
	wantCode(t, "TagResources of a VPC through PrivateLink", err, "InvalidParameter.ResourceType", 400)

	// bob's endpoint, created with tags and no zone (Terraform-style): Active
	// at once, no zone, listed by tag; zones come later.
	au := privatelink.CreateAddUserToVpcEndpointServiceRequest()
	au.ServiceId, au.UserId = svc.ServiceId, requests.NewInteger64(bobID)
	_, err = alice.PL.AddUserToVpcEndpointService(au)
	must(t, "AddUserToVpcEndpointService", err)
	bv := vpc.CreateCreateVpcRequest()
	bv.CidrBlock = "10.9.0.0/16"
	bvr, err := bob.VPC.CreateVpc(bv)
	must(t, "CreateVpc", err)
	bs := ecs.CreateCreateSecurityGroupRequest()
	bs.VpcId = bvr.VpcId
	bsg, err := bob.ECS.CreateSecurityGroup(bs)
	must(t, "CreateSecurityGroup", err)
	ce := privatelink.CreateCreateVpcEndpointRequest()
	ce.ServiceId, ce.VpcId, ce.SecurityGroupId, ce.ResourceGroupId = svc.ServiceId, bvr.VpcId, &[]string{bsg.SecurityGroupId}, "rg-ep"
	ce.Tag = &[]privatelink.CreateVpcEndpointTag{{Key: "app", Value: "orders"}}
	ep, err := bob.PL.CreateVpcEndpoint(ce)
	must(t, "CreateVpcEndpoint without zones", err)
	strict[privatelink.CreateVpcEndpointResponse](t, "CreateVpcEndpoint", ep)
	if ep.EndpointStatus != "Active" {
		t.Fatalf("an endpoint without zones is %s, want Active", ep.EndpointStatus)
	}
	lz := privatelink.CreateListVpcEndpointZonesRequest()
	lz.EndpointId = ep.EndpointId
	lzr, err := bob.PL.ListVpcEndpointZones(lz)
	must(t, "ListVpcEndpointZones", err)
	strict[privatelink.ListVpcEndpointZonesResponse](t, "ListVpcEndpointZones", lzr)
	if len(lzr.Zones) != 0 {
		t.Fatalf("zones of a zoneless endpoint: %+v", lzr.Zones)
	}
	le := privatelink.CreateListVpcEndpointsRequest()
	le.Tag, le.ResourceGroupId = &[]privatelink.ListVpcEndpointsTag{{Key: "app", Value: "orders"}}, "rg-ep"
	ler, err := bob.PL.ListVpcEndpoints(le)
	must(t, "ListVpcEndpoints", err)
	strict[privatelink.ListVpcEndpointsResponse](t, "ListVpcEndpoints", ler)
	if len(ler.Endpoints) != 1 || ler.Endpoints[0].EndpointId != ep.EndpointId || len(ler.Endpoints[0].Tags) != 1 || ler.Endpoints[0].ResourceGroupId != "rg-ep" {
		t.Fatalf("ListVpcEndpoints by tag: %+v", ler.Endpoints)
	}
	ge := privatelink.CreateGetVpcEndpointAttributeRequest()
	ge.EndpointId = ep.EndpointId
	ger, err := bob.PL.GetVpcEndpointAttribute(ge)
	must(t, "GetVpcEndpointAttribute", err)
	if ger.ResourceGroupId != "rg-ep" || ger.EndpointStatus != "Active" {
		t.Fatalf("GetVpcEndpointAttribute: %+v", ger)
	}
	et := privatelink.CreateTagResourcesRequest()
	et.ResourceType, et.ResourceId = "VpcEndpoint", &[]string{ep.EndpointId}
	et.Tag = &[]privatelink.TagResourcesTag{{Key: "owner", Value: "bob"}}
	_, err = alice.PL.TagResources(et)
	wantCode(t, "TagResources of bob's endpoint as alice", err, "EndpointNotFound", 400)
	_, err = bob.PL.TagResources(et)
	must(t, "TagResources of an endpoint", err)
	body, _ = common(t, e, bob, "ListTagResources", map[string]string{"ResourceType": "VpcEndpoint", "ResourceId.1": ep.EndpointId})
	if lt = strictBody[listTagResourcesResponse](t, "ListTagResources", body); len(lt.TagResources) != 2 {
		t.Fatalf("endpoint tags: %s", body)
	}
	bw := vpc.CreateCreateVSwitchRequest()
	bw.VpcId, bw.ZoneId, bw.CidrBlock = bvr.VpcId, zone, "10.9.1.0/24"
	bwr, err := bob.VPC.CreateVSwitch(bw)
	must(t, "CreateVSwitch", err)
	az := privatelink.CreateAddZoneToVpcEndpointRequest()
	az.EndpointId, az.ZoneId, az.VSwitchId = ep.EndpointId, zone, bwr.VSwitchId
	_, err = bob.PL.AddZoneToVpcEndpoint(az)
	must(t, "AddZoneToVpcEndpoint", err)
	if lzr, err = bob.PL.ListVpcEndpointZones(lz); err != nil || len(lzr.Zones) != 1 || lzr.Zones[0].VSwitchId != bwr.VSwitchId {
		t.Fatalf("zones after AddZoneToVpcEndpoint: %+v %v", lzr, err)
	}
}
