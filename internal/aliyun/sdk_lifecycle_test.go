package aliyun_test

import (
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/privlink/privlink/internal/testenv"
)

// TestSDKLifecycle runs the rest of the served actions through the SDK on
// a loopback server, each answer decoded strictly: service updates, users
// removed, rules revoked, a connection disabled, region and zones, and
// every resource deleted again through the RPC API (and gone from /v1).
func TestSDKLifecycle(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback"})
	zone := e.Config().Zones[0]
	aliceREST, _ := e.Account(t, "alice")
	bobREST, bobID := e.Account(t, "bob")
	ak, err := aliceREST.CreateAccessKey(bg)
	must(t, "key", err)
	bk, err := bobREST.CreateAccessKey(bg)
	must(t, "key", err)
	alice, bob := akClients(t, e, ak.AccessKeyID, ak.AccessKeySecret), akClients(t, e, bk.AccessKeyID, bk.AccessKeySecret)

	net := func(c *clients, cidr, vswCidr string) (string, string) {
		r := vpc.CreateCreateVpcRequest()
		r.CidrBlock = cidr
		v, err := c.VPC.CreateVpc(r)
		must(t, "CreateVpc", err)
		s := vpc.CreateCreateVSwitchRequest()
		s.VpcId, s.ZoneId, s.CidrBlock = v.VpcId, zone, vswCidr
		w, err := c.VPC.CreateVSwitch(s)
		must(t, "CreateVSwitch", err)
		return v.VpcId, w.VSwitchId
	}
	aVpc, aVsw := net(alice, "10.7.0.0/16", "10.7.1.0/24")
	bVpc, bVsw := net(bob, "10.8.0.0/16", "10.8.1.0/24")

	// A VPC keeps its description; a bad one creates nothing.
	dv := vpc.CreateCreateVpcRequest()
	dv.CidrBlock, dv.Description = "10.9.0.0/16", "staging — 预发"
	dvr, err := alice.VPC.CreateVpc(dv)
	must(t, "CreateVpc with a description", err)
	da := vpc.CreateDescribeVpcAttributeRequest()
	da.VpcId = dvr.VpcId
	dar, err := alice.VPC.DescribeVpcAttribute(da)
	must(t, "DescribeVpcAttribute", err)
	strict[vpc.DescribeVpcAttributeResponse](t, "DescribeVpcAttribute", dar)
	dvs := vpc.CreateDescribeVpcsRequest()
	dvs.VpcId = dvr.VpcId
	dvsr, err := alice.VPC.DescribeVpcs(dvs)
	must(t, "DescribeVpcs", err)
	strict[vpc.DescribeVpcsResponse](t, "DescribeVpcs", dvsr)
	if dar.Description != dv.Description || len(dvsr.Vpcs.Vpc) != 1 || dvsr.Vpcs.Vpc[0].Description != dv.Description {
		t.Fatalf("description: attribute %q, listed %+v", dar.Description, dvsr.Vpcs.Vpc)
	}
	dv.CidrBlock, dv.Description = "10.10.0.0/16", strings.Repeat("d", 257)
	_, err = alice.VPC.CreateVpc(dv)
	wantCode(t, "CreateVpc long description", err, "InvalidParameter.Description", 400)
	dv.Description = "\xff"
	_, err = alice.VPC.CreateVpc(dv)
	wantCode(t, "CreateVpc description not UTF-8", err, "InvalidParameter.Description", 400)
	dsw := vpc.CreateCreateVSwitchRequest()
	dsw.VpcId, dsw.ZoneId, dsw.CidrBlock, dsw.Description = dvr.VpcId, zone, "10.9.1.0/24", "text"
	_, err = alice.VPC.CreateVSwitch(dsw)
	wantCode(t, "CreateVSwitch description", err, "OperationUnsupported", 400)
	dd := vpc.CreateDeleteVpcRequest()
	dd.VpcId = dvr.VpcId
	_, err = alice.VPC.DeleteVpc(dd)
	must(t, "DeleteVpc", err)

	// The provider publishes, auto-accepting, and changes the service.
	cs := privatelink.CreateCreateVpcEndpointServiceRequest()
	cs.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "backend", ResourceId: "10.7.1.10:7001", ZoneId: zone}}
	cs.AutoAcceptEnabled = requests.NewBoolean(true)
	svc, err := alice.PL.CreateVpcEndpointService(cs)
	must(t, "CreateVpcEndpointService", err)
	up := privatelink.CreateUpdateVpcEndpointServiceAttributeRequest()
	up.ServiceId, up.ConnectBandwidth, up.ServiceDescription = svc.ServiceId, requests.NewInteger(100), "changed"
	upr, err := alice.PL.UpdateVpcEndpointServiceAttribute(up)
	must(t, "UpdateVpcEndpointServiceAttribute", err)
	strict[privatelink.UpdateVpcEndpointServiceAttributeResponse](t, "UpdateVpcEndpointServiceAttribute", upr)
	gs := privatelink.CreateGetVpcEndpointServiceAttributeRequest()
	gs.ServiceId = svc.ServiceId
	gsr, err := alice.PL.GetVpcEndpointServiceAttribute(gs)
	must(t, "GetVpcEndpointServiceAttribute", err)
	if gsr.ConnectBandwidth != 100 || gsr.ServiceDescription != "changed" || !gsr.AutoAcceptEnabled {
		t.Fatalf("after update: %+v", gsr)
	}
	au := privatelink.CreateAddUserToVpcEndpointServiceRequest()
	au.ServiceId, au.UserARN = svc.ServiceId, "acs:ram::"+bobID+":root"
	_, err = alice.PL.AddUserToVpcEndpointService(au)
	must(t, "AddUserToVpcEndpointService by ARN", err)
	lu := privatelink.CreateListVpcEndpointServiceUsersRequest()
	lu.ServiceId, lu.UserListType = svc.ServiceId, "UserARNs"
	lur, err := alice.PL.ListVpcEndpointServiceUsers(lu)
	must(t, "ListVpcEndpointServiceUsers", err)
	strict[privatelink.ListVpcEndpointServiceUsersResponse](t, "ListVpcEndpointServiceUsers", lur)
	if len(lur.UserARNs) != 1 || lur.UserARNs[0].UserARN != au.UserARN {
		t.Fatalf("user ARNs: %+v", lur.UserARNs)
	}

	// The consumer's group: a rule added, revoked, added again.
	sg := ecs.CreateCreateSecurityGroupRequest()
	sg.VpcId = bVpc
	sgr, err := bob.ECS.CreateSecurityGroup(sg)
	must(t, "CreateSecurityGroup", err)
	perm := []ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "TCP", PortRange: "7001/7001", SourceCidrIp: "10.8.0.0/16", Policy: "accept", Priority: "1"}}
	auth := func() {
		as := ecs.CreateAuthorizeSecurityGroupRequest()
		as.SecurityGroupId, as.Permissions = sgr.SecurityGroupId, &perm
		_, err := bob.ECS.AuthorizeSecurityGroup(as)
		must(t, "AuthorizeSecurityGroup", err)
	}
	rules := func() int {
		d := ecs.CreateDescribeSecurityGroupAttributeRequest()
		d.SecurityGroupId = sgr.SecurityGroupId
		r, err := bob.ECS.DescribeSecurityGroupAttribute(d)
		must(t, "DescribeSecurityGroupAttribute", err)
		return len(r.Permissions.Permission)
	}
	auth()
	rv := ecs.CreateRevokeSecurityGroupRequest()
	rv.SecurityGroupId, rv.Permissions = sgr.SecurityGroupId, &[]ecs.RevokeSecurityGroupPermissions{{IpProtocol: "TCP", PortRange: "7001/7001", SourceCidrIp: "10.8.0.0/16", Policy: "accept", Priority: "1"}}
	rvr, err := bob.ECS.RevokeSecurityGroup(rv)
	must(t, "RevokeSecurityGroup", err)
	strict[ecs.RevokeSecurityGroupResponse](t, "RevokeSecurityGroup", rvr)
	if n := rules(); n != 0 {
		t.Fatalf("%d rules after revoke", n)
	}
	auth()
	udp := ecs.CreateAuthorizeSecurityGroupRequest()
	udp.SecurityGroupId, udp.IpProtocol, udp.PortRange, udp.SourceCidrIp = sgr.SecurityGroupId, "UDP", "53/53", "10.0.0.0/8"
	_, err = bob.ECS.AuthorizeSecurityGroup(udp)
	must(t, "AuthorizeSecurityGroup UDP", err)
	if n := rules(); n != 2 {
		t.Fatalf("%d rules after a UDP rule, want 2", n)
	}
	icmp := ecs.CreateAuthorizeSecurityGroupRequest()
	icmp.SecurityGroupId, icmp.IpProtocol, icmp.PortRange, icmp.SourceCidrIp = sgr.SecurityGroupId, "ICMP", "-1/-1", "10.0.0.0/8"
	_, err = bob.ECS.AuthorizeSecurityGroup(icmp)
	wantCode(t, "AuthorizeSecurityGroup ICMP", err, "OperationUnsupported", 400)
	rvu := ecs.CreateRevokeSecurityGroupRequest()
	rvu.SecurityGroupId, rvu.Permissions = sgr.SecurityGroupId, &[]ecs.RevokeSecurityGroupPermissions{{IpProtocol: "UDP", PortRange: "53/53", SourceCidrIp: "10.0.0.0/8", Policy: "accept", Priority: "1"}}
	_, err = bob.ECS.RevokeSecurityGroup(rvu)
	must(t, "RevokeSecurityGroup UDP", err)
	if n := rules(); n != 1 {
		t.Fatalf("%d rules, want 1", n)
	}

	// The consumer connects (auto-accepted); the provider disables it.
	ce := privatelink.CreateCreateVpcEndpointRequest()
	ce.ServiceId, ce.VpcId, ce.SecurityGroupId = svc.ServiceId, bVpc, &[]string{sgr.SecurityGroupId}
	ce.Zone = &[]privatelink.CreateVpcEndpointZone{{ZoneId: zone, VSwitchId: bVsw, Ip: "10.8.1.20"}}
	ce.EndpointDescription = "orders"
	ep, err := bob.PL.CreateVpcEndpoint(ce)
	must(t, "CreateVpcEndpoint", err)
	strict[privatelink.CreateVpcEndpointResponse](t, "CreateVpcEndpoint", ep)
	if ep.ConnectionStatus != "Connected" || ep.EndpointDescription != "orders" {
		t.Fatalf("auto-accepted endpoint is %s, description %q", ep.ConnectionStatus, ep.EndpointDescription)
	}
	le := privatelink.CreateListVpcEndpointsRequest()
	le.EndpointId = ep.EndpointId
	ler, err := bob.PL.ListVpcEndpoints(le)
	must(t, "ListVpcEndpoints", err)
	strict[privatelink.ListVpcEndpointsResponse](t, "ListVpcEndpoints", ler)
	if len(ler.Endpoints) != 1 || ler.Endpoints[0].EndpointDescription != "orders" {
		t.Fatalf("listed: %+v", ler.Endpoints)
	}

	// The provider pins the endpoint's zone to one of its resources.
	pinned := func() (string, int) {
		t.Helper()
		conns, err := aliceREST.ListConnections(bg, svc.ServiceId)
		must(t, "ListConnections", err)
		if len(conns) != 1 || len(conns[0].Zones) != 1 {
			t.Fatalf("connections: %+v", conns)
		}
		return conns[0].Zones[0].ResourceID, len(conns[0].Zones[0].ResourceBackends)
	}
	pin := func(c *clients, rtype, rid string) error {
		r := privatelink.CreateUpdateVpcEndpointZoneConnectionResourceAttributeRequest()
		r.ServiceId, r.EndpointId, r.ZoneId, r.ResourceType, r.ResourceId = svc.ServiceId, ep.EndpointId, zone, rtype, rid
		resp, err := c.PL.UpdateVpcEndpointZoneConnectionResourceAttribute(r)
		if err == nil {
			strict[privatelink.UpdateVpcEndpointZoneConnectionResourceAttributeResponse](t, "UpdateVpcEndpointZoneConnectionResourceAttribute", resp)
		}
		return err
	}
	must(t, "pin the zone to its backend", pin(alice, "backend", "10.7.1.10:7001"))
	if rid, n := pinned(); rid != "10.7.1.10:7001" || n != 1 {
		t.Fatalf("pinned to %q with %d backends", rid, n)
	}
	pc := privatelink.CreateListVpcEndpointConnectionsRequest()
	pc.ServiceId = svc.ServiceId
	pcr, err := alice.PL.ListVpcEndpointConnections(pc)
	must(t, "ListVpcEndpointConnections", err)
	strict[privatelink.ListVpcEndpointConnectionsResponse](t, "ListVpcEndpointConnections", pcr)
	if len(pcr.Connections) != 1 || len(pcr.Connections[0].Zones) != 1 || pcr.Connections[0].Zones[0].ResourceId != "10.7.1.10:7001" {
		t.Fatalf("connections after the pin: %+v", pcr.Connections)
	}
	for _, bad := range []struct {
		name, rtype, rid, code string
		by                     *clients
	}{
		{"another backend", "backend", "10.7.1.11:7001", "ResourceNotFound", alice},
		{"a load balancer not attached", "nlb", "nlb-aaaaaaaaaaaaaaaaaaaa", "ResourceNotFound", alice},
		{"not a resource ID", "backend", "db.example", "InvalidParameter.ResourceId", alice},
		{"an slb", "slb", "lb-x", "OperationUnsupported", alice},
		{"by the consumer", "backend", "10.7.1.10:7001", "EndpointServiceNotFound", bob},
	} {
		wantCode(t, "pin "+bad.name, pin(bad.by, bad.rtype, bad.rid), bad.code, 400)
	}
	if rid, _ := pinned(); rid != "10.7.1.10:7001" {
		t.Fatalf("a refused pin changed the zone: %q", rid)
	}
	// Alibaba's ResourceId is required; /v1 unpins with an empty one.
	_, err = aliceREST.PinZoneResource(bg, svc.ServiceId, ep.EndpointId, zone, "")
	must(t, "unpin", err)
	if rid, n := pinned(); rid != "" || n != 0 {
		t.Fatalf("unpinned zone still pinned to %q with %d backends", rid, n)
	}

	ue := privatelink.CreateUpdateVpcEndpointAttributeRequest()
	ue.EndpointId, ue.EndpointName = ep.EndpointId, "renamed"
	uer, err := bob.PL.UpdateVpcEndpointAttribute(ue)
	must(t, "UpdateVpcEndpointAttribute", err)
	strict[privatelink.UpdateVpcEndpointAttributeResponse](t, "UpdateVpcEndpointAttribute", uer)
	ge := privatelink.CreateGetVpcEndpointAttributeRequest()
	ge.EndpointId = ep.EndpointId
	if ger, err := bob.PL.GetVpcEndpointAttribute(ge); err != nil || ger.EndpointName != "renamed" {
		t.Fatalf("after rename: %+v %v", ger, err)
	}
	ue.EndpointName = "9 not a name"
	_, err = bob.PL.UpdateVpcEndpointAttribute(ue)
	wantCode(t, "UpdateVpcEndpointAttribute bad name", err, "InvalidParameter.EndpointName", 400)
	ud := privatelink.CreateUpdateVpcEndpointAttributeRequest()
	ud.EndpointId, ud.EndpointDescription = ep.EndpointId, "the orders database"
	udr, err := bob.PL.UpdateVpcEndpointAttribute(ud)
	must(t, "UpdateVpcEndpointAttribute description", err)
	strict[privatelink.UpdateVpcEndpointAttributeResponse](t, "UpdateVpcEndpointAttribute", udr)
	ger, err := bob.PL.GetVpcEndpointAttribute(ge)
	must(t, "GetVpcEndpointAttribute", err)
	strict[privatelink.GetVpcEndpointAttributeResponse](t, "GetVpcEndpointAttribute", ger)
	if ger.EndpointDescription != "the orders database" || ger.EndpointName != "renamed" {
		t.Fatalf("after the description: name %q description %q", ger.EndpointName, ger.EndpointDescription)
	}
	ud.EndpointDescription = strings.Repeat("d", 257)
	_, err = bob.PL.UpdateVpcEndpointAttribute(ud)
	wantCode(t, "UpdateVpcEndpointAttribute long description", err, "InvalidParameter.EndpointDescription", 400)
	ud.EndpointDescription = "not \xff UTF-8"
	_, err = bob.PL.UpdateVpcEndpointAttribute(ud)
	wantCode(t, "UpdateVpcEndpointAttribute description not UTF-8", err, "InvalidParameter.EndpointDescription", 400)
	if ger, err := bob.PL.GetVpcEndpointAttribute(ge); err != nil || ger.EndpointDescription != "the orders database" {
		t.Fatalf("a rejected description changed the endpoint: %+v %v", ger, err)
	}
	ua := privatelink.CreateUpdateVpcEndpointAttributeRequest()
	ua.EndpointId, ua.EndpointName = ep.EndpointId, "other"
	_, err = alice.PL.UpdateVpcEndpointAttribute(ua)
	wantCode(t, "UpdateVpcEndpointAttribute as the provider", err, "EndpointNotFound", 400)
	lz := privatelink.CreateListVpcEndpointZonesRequest()
	lz.EndpointId = ep.EndpointId
	lzr, err := bob.PL.ListVpcEndpointZones(lz)
	must(t, "ListVpcEndpointZones", err)
	if len(lzr.Zones) != 1 || lzr.Zones[0].EniIp != "10.8.1.20" {
		t.Fatalf("zones: %+v", lzr.Zones)
	}
	en := privatelink.CreateEnableVpcEndpointConnectionRequest()
	en.ServiceId, en.EndpointId, en.Bandwidth = svc.ServiceId, ep.EndpointId, requests.NewInteger(2048)
	enr, err := alice.PL.EnableVpcEndpointConnection(en)
	must(t, "EnableVpcEndpointConnection with Bandwidth", err)
	strict[privatelink.EnableVpcEndpointConnectionResponse](t, "EnableVpcEndpointConnection", enr)
	dc := privatelink.CreateDisableVpcEndpointConnectionRequest()
	dc.ServiceId, dc.EndpointId = svc.ServiceId, ep.EndpointId
	dcr, err := alice.PL.DisableVpcEndpointConnection(dc)
	must(t, "DisableVpcEndpointConnection", err)
	strict[privatelink.DisableVpcEndpointConnectionResponse](t, "DisableVpcEndpointConnection", dcr)
	lc := privatelink.CreateListVpcEndpointConnectionsRequest()
	lc.ServiceId, lc.EndpointId = svc.ServiceId, ep.EndpointId
	lcr, err := alice.PL.ListVpcEndpointConnections(lc)
	must(t, "ListVpcEndpointConnections", err)
	if len(lcr.Connections) != 1 || lcr.Connections[0].ConnectionStatus != "Disconnected" || lcr.Connections[0].Bandwidth != 2048 {
		t.Fatalf("after disable: %+v, want the connection's own 2048 Mbps", lcr.Connections)
	}
	dz0 := privatelink.CreateDisableVpcEndpointZoneConnectionRequest()
	dz0.ServiceId, dz0.EndpointId, dz0.ZoneId = svc.ServiceId, ep.EndpointId, lzr.Zones[0].ZoneId
	dzr0, err := alice.PL.DisableVpcEndpointZoneConnection(dz0)
	must(t, "DisableVpcEndpointZoneConnection", err)
	strict[privatelink.DisableVpcEndpointZoneConnectionResponse](t, "DisableVpcEndpointZoneConnection", dzr0)
	if cn, err := aliceREST.ListConnections(bg, svc.ServiceId); err != nil || !cn[0].Zones[0].ConnectionDisabled {
		t.Fatalf("the zone's connection is not disabled: %+v, %v", cn, err)
	}
	_, err = bob.PL.DisableVpcEndpointZoneConnection(dz0)
	wantCode(t, "DisableVpcEndpointZoneConnection as the consumer", err, "EndpointServiceNotFound", 400)
	ez0 := privatelink.CreateEnableVpcEndpointZoneConnectionRequest()
	ez0.ServiceId, ez0.EndpointId, ez0.ZoneId = svc.ServiceId, ep.EndpointId, lzr.Zones[0].ZoneId
	ezr0, err := alice.PL.EnableVpcEndpointZoneConnection(ez0)
	must(t, "EnableVpcEndpointZoneConnection", err)
	strict[privatelink.EnableVpcEndpointZoneConnectionResponse](t, "EnableVpcEndpointZoneConnection", ezr0)
	uc := privatelink.CreateUpdateVpcEndpointConnectionAttributeRequest()
	uc.ServiceId, uc.EndpointId, uc.Bandwidth = svc.ServiceId, ep.EndpointId, requests.NewInteger(0)
	ucr, err := alice.PL.UpdateVpcEndpointConnectionAttribute(uc)
	must(t, "UpdateVpcEndpointConnectionAttribute", err)
	strict[privatelink.UpdateVpcEndpointConnectionAttributeResponse](t, "UpdateVpcEndpointConnectionAttribute", ucr)
	_, err = bob.PL.UpdateVpcEndpointConnectionAttribute(uc)
	wantCode(t, "UpdateVpcEndpointConnectionAttribute as the consumer", err, "EndpointServiceNotFound", 400)
	if lcr, err = alice.PL.ListVpcEndpointConnections(lc); err != nil || lcr.Connections[0].Bandwidth != 100 {
		t.Fatalf("after setting 0: %+v, %v; want the service's 100 Mbps", lcr.Connections, err)
	}

	// Region and product.
	dz := privatelink.CreateDescribeZonesRequest()
	dz.RegionId = region
	dzr, err := bob.PL.DescribeZones(dz)
	must(t, "DescribeZones", err)
	strict[privatelink.DescribeZonesResponse](t, "DescribeZones", dzr)
	if len(dzr.Zones.Zone) != len(e.Config().Zones) {
		t.Fatalf("zones: %+v", dzr.Zones)
	}
	cp, err := bob.PL.CheckProductOpen(privatelink.CreateCheckProductOpenRequest())
	must(t, "CheckProductOpen", err)
	strict[privatelink.CheckProductOpenResponse](t, "CheckProductOpen", cp)
	op, err := bob.PL.OpenPrivateLinkService(privatelink.CreateOpenPrivateLinkServiceRequest())
	must(t, "OpenPrivateLinkService", err)
	strict[privatelink.OpenPrivateLinkServiceResponse](t, "OpenPrivateLinkService", op)
	if !cp.Success {
		t.Fatal("CheckProductOpen: not open")
	}

	// An instance in the consumer's VPC, deleted again.
	inst, _ := runInstance(t, bob, bVsw, zone, "app")
	di := ecs.CreateDeleteInstanceRequest()
	di.InstanceId = inst
	dir, err := bob.ECS.DeleteInstance(di)
	must(t, "DeleteInstance", err)
	strict[ecs.DeleteInstanceResponse](t, "DeleteInstance", dir)
	two := ecs.CreateRunInstancesRequest()
	two.VSwitchId, two.Amount = bVsw, requests.NewInteger(2)
	_, err = bob.ECS.RunInstances(two)
	wantCode(t, "RunInstances Amount=2", err, "OperationUnsupported", 400)

	// Everything goes again through the RPC API.
	ru := privatelink.CreateRemoveUserFromVpcEndpointServiceRequest()
	ru.ServiceId, ru.UserId = svc.ServiceId, requests.Integer(bobID)
	rur, err := alice.PL.RemoveUserFromVpcEndpointService(ru)
	must(t, "RemoveUserFromVpcEndpointService", err)
	strict[privatelink.RemoveUserFromVpcEndpointServiceResponse](t, "RemoveUserFromVpcEndpointService", rur)
	de := privatelink.CreateDeleteVpcEndpointRequest()
	de.EndpointId = ep.EndpointId
	der, err := bob.PL.DeleteVpcEndpoint(de)
	must(t, "DeleteVpcEndpoint", err)
	strict[privatelink.DeleteVpcEndpointResponse](t, "DeleteVpcEndpoint", der)
	dsv := privatelink.CreateDeleteVpcEndpointServiceRequest()
	dsv.ServiceId = svc.ServiceId
	dsvr, err := alice.PL.DeleteVpcEndpointService(dsv)
	must(t, "DeleteVpcEndpointService", err)
	strict[privatelink.DeleteVpcEndpointServiceResponse](t, "DeleteVpcEndpointService", dsvr)
	dsg := ecs.CreateDeleteSecurityGroupRequest()
	dsg.SecurityGroupId = sgr.SecurityGroupId
	dsgr, err := bob.ECS.DeleteSecurityGroup(dsg)
	must(t, "DeleteSecurityGroup", err)
	strict[ecs.DeleteSecurityGroupResponse](t, "DeleteSecurityGroup", dsgr)
	force := vpc.CreateDeleteVpcRequest()
	force.VpcId, force.ForceDelete = aVpc, requests.NewBoolean(true)
	_, err = alice.VPC.DeleteVpc(force)
	wantCode(t, "DeleteVpc ForceDelete", err, "OperationUnsupported", 400)
	for _, n := range []struct {
		c        *clients
		vpc, vsw string
	}{{alice, aVpc, aVsw}, {bob, bVpc, bVsw}} {
		dv := vpc.CreateDeleteVpcRequest()
		dv.VpcId = n.vpc
		_, err := n.c.VPC.DeleteVpc(dv)
		wantCode(t, "DeleteVpc with a vSwitch", err, "DependencyViolation.Vpc", 400)
		dw := vpc.CreateDeleteVSwitchRequest()
		dw.VSwitchId = n.vsw
		dwr, err := n.c.VPC.DeleteVSwitch(dw)
		must(t, "DeleteVSwitch", err)
		strict[vpc.DeleteVSwitchResponse](t, "DeleteVSwitch", dwr)
		dvr, err := n.c.VPC.DeleteVpc(dv)
		must(t, "DeleteVpc", err)
		strict[vpc.DeleteVpcResponse](t, "DeleteVpc", dvr)
	}
	if v, err := aliceREST.ListVPCs(bg); err != nil || len(v) != 0 {
		t.Fatalf("/v1 still lists %d VPCs (%v)", len(v), err)
	}
	if v, err := bobREST.ListVPCs(bg); err != nil || len(v) != 0 {
		t.Fatalf("/v1 still lists %d VPCs (%v)", len(v), err)
	}
}
