package aliyun_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"
	"github.com/go-sql-driver/mysql"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/testenv"
)

// network is one side's VPC and a vSwitch per zone, made through the SDK.
type network struct {
	vpcID string
	vsws  []string // per zone
}

func sdkNetwork(t *testing.T, c *clients, name string, zones []string) network {
	t.Helper()
	r := vpc.CreateCreateVpcRequest()
	r.VpcName, r.CidrBlock, r.ClientToken = name, "192.168.0.0/16", name+"-vpc"
	vr, err := c.VPC.CreateVpc(r)
	must(t, "CreateVpc", err)
	strict[vpc.CreateVpcResponse](t, "CreateVpc", vr)
	n := network{vpcID: vr.VpcId}
	for i, z := range zones {
		s := vpc.CreateCreateVSwitchRequest()
		s.VpcId, s.ZoneId, s.CidrBlock, s.VSwitchName = vr.VpcId, z, fmt.Sprintf("192.168.%d.0/24", i+1), name+"-"+z
		sr, err := c.VPC.CreateVSwitch(s)
		must(t, "CreateVSwitch", err)
		strict[vpc.CreateVSwitchResponse](t, "CreateVSwitch", sr)
		n.vsws = append(n.vsws, sr.VSwitchId)
	}
	d := vpc.CreateDescribeVpcsRequest()
	d.VpcId = vr.VpcId
	dr, err := c.VPC.DescribeVpcs(d)
	must(t, "DescribeVpcs", err)
	strict[vpc.DescribeVpcsResponse](t, "DescribeVpcs", dr)
	if dr.TotalCount != 1 || dr.Vpcs.Vpc[0].CidrBlock != "192.168.0.0/16" || len(dr.Vpcs.Vpc[0].VSwitchIds.VSwitchId) != len(zones) {
		t.Fatalf("DescribeVpcs: %+v", dr.Vpcs)
	}
	ds := vpc.CreateDescribeVSwitchesRequest()
	ds.VpcId = vr.VpcId
	dsr, err := c.VPC.DescribeVSwitches(ds)
	must(t, "DescribeVSwitches", err)
	strict[vpc.DescribeVSwitchesResponse](t, "DescribeVSwitches", dsr)
	if dsr.TotalCount != len(zones) || dsr.VSwitches.VSwitch[0].RouteTable.RouteTableId != vr.RouteTableId {
		t.Fatalf("DescribeVSwitches: %+v", dsr.VSwitches)
	}
	da := vpc.CreateDescribeVpcAttributeRequest()
	da.VpcId = vr.VpcId
	dar, err := c.VPC.DescribeVpcAttribute(da)
	must(t, "DescribeVpcAttribute", err)
	strict[vpc.DescribeVpcAttributeResponse](t, "DescribeVpcAttribute", dar)
	dv := vpc.CreateDescribeVSwitchAttributesRequest()
	dv.VSwitchId = n.vsws[0]
	dvr, err := c.VPC.DescribeVSwitchAttributes(dv)
	must(t, "DescribeVSwitchAttributes", err)
	strict[vpc.DescribeVSwitchAttributesResponse](t, "DescribeVSwitchAttributes", dvr)
	rt := vpc.CreateDescribeRouteTableListRequest()
	rt.VpcId = vr.VpcId
	rtr, err := c.VPC.DescribeRouteTableList(rt)
	must(t, "DescribeRouteTableList", err)
	strict[vpc.DescribeRouteTableListResponse](t, "DescribeRouteTableList", rtr)
	if len(rtr.RouterTableList.RouterTableListType) != 1 || rtr.RouterTableList.RouterTableListType[0].RouteTableId != vr.RouteTableId {
		t.Fatalf("DescribeRouteTableList: %+v", rtr.RouterTableList)
	}
	return n
}

var (
	sampleDBOnce sync.Once
	sampleDBBin  string
	sampleDBErr  error
)

// sampleDB builds cmd/privlink-sampledb once per test binary.
func sampleDB(t *testing.T) string {
	t.Helper()
	sampleDBOnce.Do(func() {
		dir, err := os.MkdirTemp("", "privlink-aliyun-test")
		if err != nil {
			sampleDBErr = err
			return
		}
		sampleDBBin = filepath.Join(dir, "privlink-sampledb")
		out, err := exec.Command("go", "build", "-o", sampleDBBin, "github.com/privlink/privlink/cmd/privlink-sampledb").CombinedOutput()
		if err != nil {
			sampleDBErr = fmt.Errorf("build privlink-sampledb: %v\n%s", err, out)
		}
	})
	if sampleDBErr != nil {
		t.Fatal(sampleDBErr)
	}
	return sampleDBBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sampleDBBin != "" {
		os.RemoveAll(filepath.Dir(sampleDBBin))
	}
	os.Exit(code)
}

// TestSDKSeedScenario plays the seed scenario through the official SDK
// only (but for the database the vendor runs on its hosts): the
// provider's VPC, vSwitches, hosts (RunInstances), a load balancer over
// them (through /v1: Alibaba's NLB API is not served) and a service with
// it as its resource (Resource.N of type nlb), the consumer allow-listed; the
// consumer's VPC of the same CIDR, vSwitches in two zones, a security
// group with a 6001 rule, the service found by name, an endpoint in two
// zones with a ClientToken (repeated: the same endpoint); the provider
// accepts the connection; the consumer waits for Active, reads the zones'
// ENI IPs and domains, and a MySQL client queries through the endpoint
// domain from a host (RunInstances) in its VPC.
func TestSDKSeedScenario(t *testing.T) {
	testenv.NeedRoot(t)
	e := testenv.Start(t, testenv.Options{})
	zones := e.Config().Zones[:2]
	providerREST, _ := e.Account(t, "provider")
	consumerREST, consumerID := e.Account(t, "consumer")
	pk, err := providerREST.CreateAccessKey(bg)
	must(t, "provider access key", err)
	ck, err := consumerREST.CreateAccessKey(bg)
	must(t, "consumer access key", err)
	provider := akClients(t, e, pk.AccessKeyID, pk.AccessKeySecret)
	consumer := akClients(t, e, ck.AccessKeyID, ck.AccessKeySecret)

	// Provider: network, database hosts, service, allow-list.
	pn := sdkNetwork(t, provider, "provider", zones)
	var backends []api.BackendSpec
	bin := sampleDB(t)
	for i, z := range zones {
		id, ip := runInstance(t, provider, pn.vsws[i], z, "db-"+z)
		startSampleDB(t, e, bin, id)
		backends = append(backends, api.BackendSpec{ZoneID: z, IP: ip, Port: 6001})
	}
	lb, err := providerREST.CreateLoadBalancer(bg, api.CreateLoadBalancerRequest{Name: "db", VpcID: pn.vpcID, Ports: []int{6001}, Backends: backends})
	must(t, "CreateLoadBalancer (/v1)", err)
	var resources []privatelink.CreateVpcEndpointServiceResource
	for _, z := range zones {
		resources = append(resources, privatelink.CreateVpcEndpointServiceResource{ResourceType: "nlb", ResourceId: lb.LoadBalancerID, ZoneId: z})
	}
	cs := privatelink.CreateCreateVpcEndpointServiceRequest()
	cs.Resource, cs.ServiceDescription, cs.AutoAcceptEnabled, cs.ZoneAffinityEnabled = &resources, "sample database", requests.NewBoolean(false), requests.NewBoolean(true)
	svc, err := provider.PL.CreateVpcEndpointService(cs)
	must(t, "CreateVpcEndpointService", err)
	strict[privatelink.CreateVpcEndpointServiceResponse](t, "CreateVpcEndpointService", svc)
	au := privatelink.CreateAddUserToVpcEndpointServiceRequest()
	au.ServiceId, au.UserId = svc.ServiceId, requests.Integer(consumerID)
	aur, err := provider.PL.AddUserToVpcEndpointService(au)
	must(t, "AddUserToVpcEndpointService", err)
	strict[privatelink.AddUserToVpcEndpointServiceResponse](t, "AddUserToVpcEndpointService", aur)
	lu := privatelink.CreateListVpcEndpointServiceUsersRequest()
	lu.ServiceId = svc.ServiceId
	lur, err := provider.PL.ListVpcEndpointServiceUsers(lu)
	must(t, "ListVpcEndpointServiceUsers", err)
	strict[privatelink.ListVpcEndpointServiceUsersResponse](t, "ListVpcEndpointServiceUsers", lur)
	if len(lur.Users) != 1 || strconv.FormatInt(lur.Users[0].UserId, 10) != consumerID {
		t.Fatalf("users: %+v", lur.Users)
	}
	gs := privatelink.CreateGetVpcEndpointServiceAttributeRequest()
	gs.ServiceId = svc.ServiceId
	gsr, err := provider.PL.GetVpcEndpointServiceAttribute(gs)
	must(t, "GetVpcEndpointServiceAttribute", err)
	strict[privatelink.GetVpcEndpointServiceAttributeResponse](t, "GetVpcEndpointServiceAttribute", gsr)
	if len(gsr.Zones) != 2 || gsr.ServiceResourceType != "nlb" || !gsr.ZoneAffinityEnabled || gsr.AutoAcceptEnabled {
		t.Fatalf("service: %+v", gsr)
	}

	// Consumer: network of the same CIDR, security group, search, endpoint.
	cn := sdkNetwork(t, consumer, "consumer", zones)
	sg := ecs.CreateCreateSecurityGroupRequest()
	sg.VpcId, sg.SecurityGroupName = cn.vpcID, "sg-db"
	sgr, err := consumer.ECS.CreateSecurityGroup(sg)
	must(t, "CreateSecurityGroup", err)
	strict[ecs.CreateSecurityGroupResponse](t, "CreateSecurityGroup", sgr)
	as := ecs.CreateAuthorizeSecurityGroupRequest()
	as.SecurityGroupId, as.IpProtocol, as.PortRange, as.SourceCidrIp, as.Policy, as.Priority = sgr.SecurityGroupId, "TCP", "6001/6001", "192.168.0.0/16", "accept", "1"
	asr, err := consumer.ECS.AuthorizeSecurityGroup(as)
	must(t, "AuthorizeSecurityGroup", err)
	strict[ecs.AuthorizeSecurityGroupResponse](t, "AuthorizeSecurityGroup", asr)
	ds := ecs.CreateDescribeSecurityGroupsRequest()
	ds.VpcId = cn.vpcID
	dsr, err := consumer.ECS.DescribeSecurityGroups(ds)
	must(t, "DescribeSecurityGroups", err)
	strict[ecs.DescribeSecurityGroupsResponse](t, "DescribeSecurityGroups", dsr)
	if dsr.TotalCount != 1 || dsr.SecurityGroups.SecurityGroup[0].RuleCount != 1 {
		t.Fatalf("DescribeSecurityGroups: %+v", dsr.SecurityGroups)
	}
	da := ecs.CreateDescribeSecurityGroupAttributeRequest()
	da.SecurityGroupId = sgr.SecurityGroupId
	dar, err := consumer.ECS.DescribeSecurityGroupAttribute(da)
	must(t, "DescribeSecurityGroupAttribute", err)
	strict[ecs.DescribeSecurityGroupAttributeResponse](t, "DescribeSecurityGroupAttribute", dar)
	if p := dar.Permissions.Permission; len(p) != 1 || p[0].PortRange != "6001/6001" || p[0].IpProtocol != "TCP" {
		t.Fatalf("permissions: %+v", p)
	}

	ls := privatelink.CreateListVpcEndpointServicesByEndUserRequest()
	ls.ServiceName = svc.ServiceName
	lsr, err := consumer.PL.ListVpcEndpointServicesByEndUser(ls)
	must(t, "ListVpcEndpointServicesByEndUser", err)
	strict[privatelink.ListVpcEndpointServicesByEndUserResponse](t, "ListVpcEndpointServicesByEndUser", lsr)
	if lsr.TotalCount != "1" || lsr.Services[0].ServiceId != svc.ServiceId || len(lsr.Services[0].Zones) != 2 {
		t.Fatalf("ListVpcEndpointServicesByEndUser: %+v", lsr)
	}
	ce := privatelink.CreateCreateVpcEndpointRequest()
	ce.ServiceName, ce.VpcId, ce.EndpointName, ce.ClientToken = svc.ServiceName, cn.vpcID, "db", "seed-endpoint-1"
	ce.SecurityGroupId = &[]string{sgr.SecurityGroupId}
	ce.Zone = &[]privatelink.CreateVpcEndpointZone{{ZoneId: zones[0], VSwitchId: cn.vsws[0]}, {ZoneId: zones[1], VSwitchId: cn.vsws[1]}}
	ep, err := consumer.PL.CreateVpcEndpoint(ce)
	must(t, "CreateVpcEndpoint", err)
	strict[privatelink.CreateVpcEndpointResponse](t, "CreateVpcEndpoint", ep)
	ce2 := privatelink.CreateCreateVpcEndpointRequest()
	ce2.ServiceName, ce2.VpcId, ce2.EndpointName, ce2.ClientToken, ce2.SecurityGroupId, ce2.Zone = ce.ServiceName, ce.VpcId, ce.EndpointName, ce.ClientToken, ce.SecurityGroupId, ce.Zone
	again, err := consumer.PL.CreateVpcEndpoint(ce2)
	must(t, "CreateVpcEndpoint again", err)
	if again.EndpointId != ep.EndpointId || again.RequestId == ep.RequestId {
		t.Fatalf("the same ClientToken made %s then %s", ep.EndpointId, again.EndpointId)
	}
	if ep.ConnectionStatus != "Pending" {
		t.Fatalf("connection %s before the provider accepts", ep.ConnectionStatus)
	}

	// Provider: sees the connection and accepts it.
	lc := privatelink.CreateListVpcEndpointConnectionsRequest()
	lc.ServiceId = svc.ServiceId
	lcr, err := provider.PL.ListVpcEndpointConnections(lc)
	must(t, "ListVpcEndpointConnections", err)
	strict[privatelink.ListVpcEndpointConnectionsResponse](t, "ListVpcEndpointConnections", lcr)
	if lcr.TotalCount != "1" || lcr.Connections[0].EndpointId != ep.EndpointId || strconv.FormatInt(lcr.Connections[0].EndpointOwnerId, 10) != consumerID ||
		lcr.Connections[0].ConnectionStatus != "Pending" || len(lcr.Connections[0].Zones) != 2 {
		t.Fatalf("connections: %+v", lcr.Connections)
	}
	en := privatelink.CreateEnableVpcEndpointConnectionRequest()
	en.ServiceId, en.EndpointId = svc.ServiceId, ep.EndpointId
	enr, err := provider.PL.EnableVpcEndpointConnection(en)
	must(t, "EnableVpcEndpointConnection", err)
	strict[privatelink.EnableVpcEndpointConnectionResponse](t, "EnableVpcEndpointConnection", enr)

	// Consumer: waits for Active, reads the zones.
	var attr *privatelink.GetVpcEndpointAttributeResponse
	testenv.Eventually(t, "endpoint Active", func() error {
		g := privatelink.CreateGetVpcEndpointAttributeRequest()
		g.EndpointId = ep.EndpointId
		attr, err = consumer.PL.GetVpcEndpointAttribute(g)
		if err != nil {
			return err
		}
		if attr.EndpointStatus != "Active" || attr.ConnectionStatus != "Connected" {
			return fmt.Errorf("endpoint %s, connection %s", attr.EndpointStatus, attr.ConnectionStatus)
		}
		return nil
	})
	strict[privatelink.GetVpcEndpointAttributeResponse](t, "GetVpcEndpointAttribute", attr)
	lz := privatelink.CreateListVpcEndpointZonesRequest()
	lz.EndpointId = ep.EndpointId
	lzr, err := consumer.PL.ListVpcEndpointZones(lz)
	must(t, "ListVpcEndpointZones", err)
	strict[privatelink.ListVpcEndpointZonesResponse](t, "ListVpcEndpointZones", lzr)
	if len(lzr.Zones) != 2 {
		t.Fatalf("zones: %+v", lzr.Zones)
	}
	for _, z := range lzr.Zones {
		ip, err := netip.ParseAddr(z.EniIp)
		if err != nil || !netip.MustParsePrefix("192.168.0.0/16").Contains(ip) || z.ZoneDomain == "" || z.EniId == "" {
			t.Fatalf("zone %+v", z)
		}
	}
	le := privatelink.CreateListVpcEndpointsRequest()
	le.VpcId = cn.vpcID
	ler, err := consumer.PL.ListVpcEndpoints(le)
	must(t, "ListVpcEndpoints", err)
	strict[privatelink.ListVpcEndpointsResponse](t, "ListVpcEndpoints", ler)
	if ler.TotalCount != 1 || ler.Endpoints[0].EndpointDomain != attr.EndpointDomain {
		t.Fatalf("ListVpcEndpoints: %+v", ler)
	}
	lg := privatelink.CreateListVpcEndpointSecurityGroupsRequest()
	lg.EndpointId = ep.EndpointId
	lgr, err := consumer.PL.ListVpcEndpointSecurityGroups(lg)
	must(t, "ListVpcEndpointSecurityGroups", err)
	strict[privatelink.ListVpcEndpointSecurityGroupsResponse](t, "ListVpcEndpointSecurityGroups", lgr)

	// A MySQL client in the consumer's VPC, through the endpoint domain.
	app, _ := runInstance(t, consumer, cn.vsws[0], zones[0], "app")
	testenv.Eventually(t, "host "+app, func() error {
		if !e.Driver.Sockets.HasHost(app) {
			return fmt.Errorf("not there yet")
		}
		return nil
	})
	testenv.Eventually(t, "query through "+attr.EndpointDomain, func() error {
		return queryThrough(e, app, cn.vpcID, attr.EndpointDomain)
	})
	// The zone agents' checks show as the load balancer's backend health
	// (/v1) and as its resources' StatusInfo (SDK).
	testenv.Eventually(t, "load balancer backends Healthy", func() error {
		l, err := providerREST.GetLoadBalancer(bg, lb.LoadBalancerID)
		if err != nil {
			return err
		}
		for _, b := range l.Backends {
			if b.Health != "Healthy" {
				return fmt.Errorf("backend %s is %q", b.IP, b.Health)
			}
		}
		lr := privatelink.CreateListVpcEndpointServiceResourcesRequest()
		lr.ServiceId = svc.ServiceId
		res, err := provider.PL.ListVpcEndpointServiceResources(lr)
		if err != nil {
			return err
		}
		if len(res.Resources) != 2 {
			return fmt.Errorf("resources %+v", res.Resources)
		}
		for _, r := range res.Resources {
			if r.ResourceId != lb.LoadBalancerID || r.StatusInfo != "Healthy" {
				return fmt.Errorf("resource %s in %s is %q", r.ResourceId, r.ZoneId, r.StatusInfo)
			}
		}
		return nil
	})

	// The consumer swaps the endpoint's security group for one without
	// rules: new connections are refused; attached again, they pass.
	empty := ecs.CreateCreateSecurityGroupRequest()
	empty.VpcId, empty.SecurityGroupName = cn.vpcID, "sg-none"
	er, err := consumer.ECS.CreateSecurityGroup(empty)
	must(t, "CreateSecurityGroup", err)
	at := privatelink.CreateAttachSecurityGroupToVpcEndpointRequest()
	at.EndpointId, at.SecurityGroupId = ep.EndpointId, er.SecurityGroupId
	atr, err := consumer.PL.AttachSecurityGroupToVpcEndpoint(at)
	must(t, "AttachSecurityGroupToVpcEndpoint", err)
	strict[privatelink.AttachSecurityGroupToVpcEndpointResponse](t, "AttachSecurityGroupToVpcEndpoint", atr)
	dt := privatelink.CreateDetachSecurityGroupFromVpcEndpointRequest()
	dt.EndpointId, dt.SecurityGroupId = ep.EndpointId, sgr.SecurityGroupId
	dtr, err := consumer.PL.DetachSecurityGroupFromVpcEndpoint(dt)
	must(t, "DetachSecurityGroupFromVpcEndpoint", err)
	strict[privatelink.DetachSecurityGroupFromVpcEndpointResponse](t, "DetachSecurityGroupFromVpcEndpoint", dtr)
	testenv.Eventually(t, "refused without a rule", func() error {
		if err := queryThrough(e, app, cn.vpcID, attr.EndpointDomain); err == nil {
			return fmt.Errorf("a query passed with only %s (no rules) attached", er.SecurityGroupId)
		}
		return nil
	})
	if err := queryThrough(e, app, cn.vpcID, attr.EndpointDomain); err == nil {
		t.Fatal("a query passed again without a rule")
	}
	at2 := privatelink.CreateAttachSecurityGroupToVpcEndpointRequest()
	at2.EndpointId, at2.SecurityGroupId = ep.EndpointId, sgr.SecurityGroupId
	_, err = consumer.PL.AttachSecurityGroupToVpcEndpoint(at2)
	must(t, "AttachSecurityGroupToVpcEndpoint again", err)
	testenv.Eventually(t, "query with the 6001 rule back", func() error {
		return queryThrough(e, app, cn.vpcID, attr.EndpointDomain)
	})
	// The consumer removes the second zone (queries still pass through the
	// first) and adds it back (its ENI connects again).
	rz := privatelink.CreateRemoveZoneFromVpcEndpointRequest()
	rz.EndpointId, rz.ZoneId = ep.EndpointId, zones[1]
	rzr, err := consumer.PL.RemoveZoneFromVpcEndpoint(rz)
	must(t, "RemoveZoneFromVpcEndpoint", err)
	strict[privatelink.RemoveZoneFromVpcEndpointResponse](t, "RemoveZoneFromVpcEndpoint", rzr)
	if z := endpointZones(t, consumer, ep.EndpointId); len(z) != 1 || z[0].ZoneId != zones[0] {
		t.Fatalf("after RemoveZoneFromVpcEndpoint: %+v", z)
	}
	testenv.Eventually(t, "query through the remaining zone", func() error {
		return queryThrough(e, app, cn.vpcID, attr.EndpointDomain)
	})
	az := privatelink.CreateAddZoneToVpcEndpointRequest()
	az.EndpointId, az.ZoneId, az.VSwitchId = ep.EndpointId, zones[1], cn.vsws[1]
	azr, err := consumer.PL.AddZoneToVpcEndpoint(az)
	must(t, "AddZoneToVpcEndpoint", err)
	strict[privatelink.AddZoneToVpcEndpointResponse](t, "AddZoneToVpcEndpoint", azr)
	testenv.Eventually(t, "the added zone connects", func() error {
		z := endpointZones(t, consumer, ep.EndpointId)
		if len(z) != 2 || z[0].ZoneStatus != "Connected" || z[1].ZoneStatus != "Connected" {
			return fmt.Errorf("zones %+v", z)
		}
		return nil
	})

	lg2 := privatelink.CreateListVpcEndpointSecurityGroupsRequest()
	lg2.EndpointId = ep.EndpointId
	lgr2, err := consumer.PL.ListVpcEndpointSecurityGroups(lg2)
	must(t, "ListVpcEndpointSecurityGroups", err)
	if len(lgr2.SecurityGroups) != 2 {
		t.Fatalf("security groups: %+v", lgr2.SecurityGroups)
	}
}

func endpointZones(t *testing.T, c *clients, id string) []privatelink.Zone {
	t.Helper()
	r := privatelink.CreateListVpcEndpointZonesRequest()
	r.EndpointId = id
	resp, err := c.PL.ListVpcEndpointZones(r)
	must(t, "ListVpcEndpointZones", err)
	return resp.Zones
}

// runInstance makes a host with RunInstances and reads its IP back with
// DescribeInstances.
func runInstance(t *testing.T, c *clients, vsw, zone, name string) (id, ip string) {
	t.Helper()
	r := ecs.CreateRunInstancesRequest()
	r.VSwitchId, r.ZoneId, r.InstanceName, r.ImageId, r.InstanceType, r.Amount = vsw, zone, name, "ignored", "ignored", requests.NewInteger(1)
	rr, err := c.ECS.RunInstances(r)
	must(t, "RunInstances", err)
	strict[ecs.RunInstancesResponse](t, "RunInstances", rr)
	if len(rr.InstanceIdSets.InstanceIdSet) != 1 {
		t.Fatalf("RunInstances: %+v", rr.InstanceIdSets)
	}
	id = rr.InstanceIdSets.InstanceIdSet[0]
	d := ecs.CreateDescribeInstancesRequest()
	d.InstanceIds = `["` + id + `"]`
	dr, err := c.ECS.DescribeInstances(d)
	must(t, "DescribeInstances", err)
	strict[ecs.DescribeInstancesResponse](t, "DescribeInstances", dr)
	if dr.TotalCount != 1 || dr.Instances.Instance[0].VpcAttributes.VSwitchId != vsw || len(dr.Instances.Instance[0].VpcAttributes.PrivateIpAddress.IpAddress) != 1 {
		t.Fatalf("DescribeInstances: %+v", dr.Instances)
	}
	return id, dr.Instances.Instance[0].VpcAttributes.PrivateIpAddress.IpAddress[0]
}

// startSampleDB runs the sample database in a provider host on 6001.
func startSampleDB(t *testing.T, e *testenv.Env, bin, hostID string) {
	t.Helper()
	testenv.Eventually(t, "host "+hostID, func() error {
		if !e.Driver.Sockets.HasHost(hostID) {
			return fmt.Errorf("not there yet")
		}
		return nil
	})
	cmd := e.Driver.Sockets.ExecCommand(context.Background(), hostID, []string{bin, "--listen", ":6001", "--user", "acct1:admin:accountadmin=secret"})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// queryThrough connects go-sql-driver from inside hostID to domain:6001,
// resolved by the VPC's resolver, and runs SELECT 1.
func queryThrough(e *testenv.Env, hostID, vpcID, domain string) error {
	hs := e.Driver.Sockets
	res := netdrv.HostResolver(hs, hostID, hs.ResolverAddr(vpcID))
	netName := "aliyun-test-" + hostID
	mysql.RegisterDialContext(netName, func(ctx context.Context, addr string) (net.Conn, error) {
		h, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := res.LookupNetIP(ctx, "ip4", h)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("resolve %s: %v", h, err)
		}
		p, _ := strconv.Atoi(port)
		return hs.DialHost(ctx, hostID, netip.AddrPortFrom(ips[0], uint16(p)))
	})
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "acct1:admin:accountadmin", "secret", netName, net.JoinHostPort(domain, "6001"), "demo"
	cfg.Timeout = 2 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return fmt.Errorf("SELECT 1 gave %d", one)
	}
	return nil
}
