package aliyun_test

import (
	"slices"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/testenv"
)

// TestSDKServiceResources: a service made through the SDK from privlink
// load balancers (Resource.N of type nlb), its resources listed per zone,
// another load balancer attached, the first detached (not while it is the
// last), the resource attribute and the support check; every answer
// decoded strictly; other accounts' and unknown IDs give the SDK the
// right codes.
func TestSDKServiceResources(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback"})
	zones := e.Config().Zones
	aliceREST, _ := e.Account(t, "alice")
	bobREST, _ := e.Account(t, "bob")
	ak, err := aliceREST.CreateAccessKey(bg)
	must(t, "key", err)
	bk, err := bobREST.CreateAccessKey(bg)
	must(t, "key", err)
	alice, bob := akClients(t, e, ak.AccessKeyID, ak.AccessKeySecret), akClients(t, e, bk.AccessKeyID, bk.AccessKeySecret)

	cv := vpc.CreateCreateVpcRequest()
	cv.CidrBlock = "10.9.0.0/16"
	v, err := alice.VPC.CreateVpc(cv)
	must(t, "CreateVpc", err)
	var vsws []string
	for i, z := range zones[:2] {
		r := vpc.CreateCreateVSwitchRequest()
		r.VpcId, r.ZoneId, r.CidrBlock = v.VpcId, z, []string{"10.9.1.0/24", "10.9.2.0/24"}[i]
		w, err := alice.VPC.CreateVSwitch(r)
		must(t, "CreateVSwitch", err)
		vsws = append(vsws, w.VSwitchId)
	}
	lb := func(ports []int, backends ...api.BackendSpec) string {
		t.Helper()
		l, err := aliceREST.CreateLoadBalancer(bg, api.CreateLoadBalancerRequest{VpcID: v.VpcId, Ports: ports, Backends: backends})
		must(t, "CreateLoadBalancer", err)
		return l.LoadBalancerID
	}
	lb1 := lb([]int{3306}, api.BackendSpec{ZoneID: zones[0], IP: "10.9.1.10"}, api.BackendSpec{ZoneID: zones[1], IP: "10.9.2.10"})
	lbOtherPorts := lb([]int{5432}, api.BackendSpec{ZoneID: zones[0], IP: "10.9.1.11"})
	lb3 := lb([]int{3306}, api.BackendSpec{ZoneID: zones[0], IP: "10.9.1.12"})

	// The service is made of lb1, named once per zone as Alibaba does.
	cs := privatelink.CreateCreateVpcEndpointServiceRequest()
	cs.ServiceResourceType = "nlb"
	cs.Resource = &[]privatelink.CreateVpcEndpointServiceResource{
		{ResourceType: "nlb", ResourceId: lb1, ZoneId: zones[0]}, {ResourceType: "nlb", ResourceId: lb1, ZoneId: zones[1]}}
	svc, err := alice.PL.CreateVpcEndpointService(cs)
	must(t, "CreateVpcEndpointService with nlb", err)
	strict[privatelink.CreateVpcEndpointServiceResponse](t, "CreateVpcEndpointService", svc)
	gs := privatelink.CreateGetVpcEndpointServiceAttributeRequest()
	gs.ServiceId = svc.ServiceId
	gsr, err := alice.PL.GetVpcEndpointServiceAttribute(gs)
	must(t, "GetVpcEndpointServiceAttribute", err)
	strict[privatelink.GetVpcEndpointServiceAttributeResponse](t, "GetVpcEndpointServiceAttribute", gsr)
	if gsr.ServiceResourceType != "nlb" || !slices.Equal(gsr.Zones, zones[:2]) {
		t.Fatalf("service of a load balancer: type %q zones %v", gsr.ServiceResourceType, gsr.Zones)
	}
	rest, err := aliceREST.GetService(bg, svc.ServiceId)
	must(t, "GetService", err)
	if !slices.Equal(rest.Ports, []int{3306}) || len(rest.Resources) != 2 || rest.VpcID != v.VpcId {
		t.Fatalf("/v1 sees %+v", rest)
	}

	list := func(zone string) []privatelink.Resource {
		t.Helper()
		r := privatelink.CreateListVpcEndpointServiceResourcesRequest()
		r.ServiceId, r.ZoneId = svc.ServiceId, zone
		resp, err := alice.PL.ListVpcEndpointServiceResources(r)
		must(t, "ListVpcEndpointServiceResources", err)
		strict[privatelink.ListVpcEndpointServiceResourcesResponse](t, "ListVpcEndpointServiceResources", resp)
		return resp.Resources
	}
	res := list("")
	if len(res) != 2 || res[0].ResourceId != lb1 || res[0].ResourceType != "nlb" || res[0].ZoneId != zones[0] || res[0].VSwitchId != vsws[0] ||
		res[1].ZoneId != zones[1] || res[1].VSwitchId != vsws[1] || res[0].VpcId != v.VpcId || !res[0].AutoAllocatedEnabled {
		t.Fatalf("resources: %+v", res)
	}
	if res := list(zones[1]); len(res) != 1 || res[0].ZoneId != zones[1] {
		t.Fatalf("resources of %s: %+v", zones[1], res)
	}

	check := func(id string) bool {
		t.Helper()
		r := privatelink.CreateCheckResourceSupportOperateRequest()
		r.ResourceId, r.ResourceType, r.ZoneId = id, "nlb", zones[0]
		resp, err := alice.PL.CheckResourceSupportOperate(r)
		must(t, "CheckResourceSupportOperate", err)
		strict[privatelink.CheckResourceSupportOperateResponse](t, "CheckResourceSupportOperate", resp)
		return resp.ResourceZoneCanBeDeleted
	}
	if check(lb1) {
		t.Fatal("the service's last resource can be deleted, says CheckResourceSupportOperate")
	}
	det := privatelink.CreateDetachResourceFromVpcEndpointServiceRequest()
	det.ServiceId, det.ResourceType, det.ResourceId = svc.ServiceId, "nlb", lb1
	_, err = alice.PL.DetachResourceFromVpcEndpointService(det)
	wantCode(t, "Detach the last resource", err, "OperationDenied.LastResource", 400)

	att := privatelink.CreateAttachResourceToVpcEndpointServiceRequest()
	att.ServiceId, att.ResourceType, att.ResourceId = svc.ServiceId, "nlb", lbOtherPorts
	_, err = alice.PL.AttachResourceToVpcEndpointService(att)
	wantCode(t, "Attach a load balancer of other ports", err, "InvalidParameter.LoadBalancerId", 400)
	att.ResourceId, att.ZoneId = lb3, zones[1]
	_, err = alice.PL.AttachResourceToVpcEndpointService(att)
	wantCode(t, "Attach in a zone the load balancer is not in", err, "InvalidParameter.ZoneId", 400)
	att.ZoneId, att.DryRun = zones[0], requests.NewBoolean(true)
	_, err = alice.PL.AttachResourceToVpcEndpointService(att)
	wantCode(t, "Attach DryRun", err, "DryRunOperation", 400)
	att.DryRun = requests.NewBoolean(false)
	ar, err := alice.PL.AttachResourceToVpcEndpointService(att)
	must(t, "AttachResourceToVpcEndpointService", err)
	strict[privatelink.AttachResourceToVpcEndpointServiceResponse](t, "AttachResourceToVpcEndpointService", ar)
	_, err = alice.PL.AttachResourceToVpcEndpointService(att)
	must(t, "Attach again for a zone already attached", err)
	if res := list(""); len(res) != 3 {
		t.Fatalf("after attaching lb3: %+v", res)
	}
	if !check(lb1) {
		t.Fatal("with another resource attached, lb1 still cannot go, says CheckResourceSupportOperate")
	}

	up := privatelink.CreateUpdateVpcEndpointServiceResourceAttributeRequest()
	up.ServiceId, up.ResourceType, up.ResourceId, up.ZoneId, up.AutoAllocatedEnabled = svc.ServiceId, "nlb", lb3, zones[0], requests.NewBoolean(true)
	upr, err := alice.PL.UpdateVpcEndpointServiceResourceAttribute(up)
	must(t, "UpdateVpcEndpointServiceResourceAttribute", err)
	strict[privatelink.UpdateVpcEndpointServiceResourceAttributeResponse](t, "UpdateVpcEndpointServiceResourceAttribute", upr)
	up.AutoAllocatedEnabled = requests.NewBoolean(false)
	_, err = alice.PL.UpdateVpcEndpointServiceResourceAttribute(up)
	wantCode(t, "AutoAllocatedEnabled=false", err, "OperationUnsupported", 400)

	det.ZoneId = zones[1]
	dr, err := alice.PL.DetachResourceFromVpcEndpointService(det)
	must(t, "DetachResourceFromVpcEndpointService", err)
	strict[privatelink.DetachResourceFromVpcEndpointServiceResponse](t, "DetachResourceFromVpcEndpointService", dr)
	if res := list(""); len(res) != 1 || res[0].ResourceId != lb3 || res[0].ZoneId != zones[0] {
		t.Fatalf("after detaching lb1: %+v", res)
	}
	rest, err = aliceREST.GetService(bg, svc.ServiceId)
	must(t, "GetService", err)
	if !slices.Equal(rest.Zones, zones[:1]) || len(rest.Resources) != 1 || rest.Resources[0].IP.String() != "10.9.1.12" {
		t.Fatalf("/v1 after detaching lb1: %+v", rest)
	}
	_, err = alice.PL.DetachResourceFromVpcEndpointService(det)
	wantCode(t, "Detach what is not attached", err, "EndpointServiceResourceNotFound", 400)

	// Codes for what is unknown, another account's, or cannot be.
	unknown := "nlb-aaaaaaaaaaaaaaaaaaaa"
	att.ResourceId = unknown
	_, err = alice.PL.AttachResourceToVpcEndpointService(att)
	wantCode(t, "Attach an unknown load balancer", err, "LoadBalancerNotFound", 400)
	att.ResourceId, att.ServiceId = lb1, "epsrv-aaaaaaaaaaaaaaaaaaaa"
	_, err = alice.PL.AttachResourceToVpcEndpointService(att)
	wantCode(t, "Attach to an unknown service", err, "EndpointServiceNotFound", 400)
	att.ServiceId = svc.ServiceId
	_, err = bob.PL.AttachResourceToVpcEndpointService(att)
	wantCode(t, "Attach to another account's service", err, "EndpointServiceNotFound", 400)
	cr := privatelink.CreateCheckResourceSupportOperateRequest()
	cr.ResourceId, cr.ResourceType = lb1, "nlb"
	_, err = bob.PL.CheckResourceSupportOperate(cr)
	wantCode(t, "Check another account's load balancer", err, "LoadBalancerNotFound", 400)
	bs := privatelink.CreateCreateVpcEndpointServiceRequest()
	bs.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "nlb", ResourceId: lb1, ZoneId: zones[0]}}
	_, err = bob.PL.CreateVpcEndpointService(bs)
	wantCode(t, "A service of another account's load balancer", err, "LoadBalancerNotFound", 400)
	bs.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "nlb", ResourceId: lb1, ZoneId: zones[0]}, {ResourceType: "backend", ResourceId: "10.9.1.5:80", ZoneId: zones[0]}}
	_, err = alice.PL.CreateVpcEndpointService(bs)
	wantCode(t, "Mixed resource types", err, "InvalidParameter.ResourceType", 400)
	det.ResourceType, det.ResourceId, det.ZoneId = "backend", "10.9.1.12:3306", zones[0]
	_, err = alice.PL.DetachResourceFromVpcEndpointService(det)
	wantCode(t, "Detach a backend resource", err, "OperationUnsupported", 400)
	if _, err := aliceREST.DeleteLoadBalancer(bg, lb3); err == nil {
		t.Fatal("the service's load balancer was deleted")
	}
}
