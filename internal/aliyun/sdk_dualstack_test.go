package aliyun_test

import (
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/testenv"
)

// TestSDKDualStack: with the Alibaba Go SDK, CreateVpcEndpointService
// AddressIpVersion=DualStack (a query parameter the pinned SDK has no
// field for) and UpdateVpcEndpointServiceAttribute ServiceSupportIPv6 set
// a service's families, GetVpcEndpointServiceAttribute answers
// ServiceSupportIPv6; CreateVpcEndpoint Zone.N.Ipv6Address asks for the
// zone's IPv6 ENI and ListVpcEndpointZones answers ZoneIpv6Address;
// AuthorizeSecurityGroup Ipv6SourceCidrIp adds an IPv6 rule that
// DescribeSecurityGroupAttribute shows; NotifyResourceAddressFamily
// switches the services of a resource; bad input gets its code (all
// bodies strictly decoded).
func TestSDKDualStack(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback"})
	zone := e.Config().Zones[0]
	rest, _ := e.Account(t, "v6epsdk")
	k, err := rest.CreateAccessKey(bg)
	must(t, "key", err)
	c := akClients(t, e, k.AccessKeyID, k.AccessKeySecret)

	vpc, err := rest.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.6.0.0/16", Ipv6CidrBlock: "fd66::/56"})
	must(t, "vpc", err)
	sw, err := rest.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: zone, CidrBlock: "10.6.1.0/24", Ipv6CidrBlock: intp(1)})
	must(t, "vswitch", err)
	h, err := rest.CreateHost(bg, api.CreateHostRequest{VSwitchID: sw.VSwitchID})
	must(t, "host", err)
	backend := "[" + h.Ipv6Address.String() + "]:6001"

	cs := privatelink.CreateCreateVpcEndpointServiceRequest()
	cs.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "backend", ResourceId: backend, ZoneId: zone}}
	cs.AutoAcceptEnabled = requests.NewBoolean(true)
	cs.QueryParams["AddressIpVersion"] = "DualStack"
	csr, err := c.PL.CreateVpcEndpointService(cs)
	must(t, "CreateVpcEndpointService AddressIpVersion", err)
	strict[privatelink.CreateVpcEndpointServiceResponse](t, "CreateVpcEndpointService", csr)
	if !csr.ServiceSupportIPv6 {
		t.Fatalf("created service: ServiceSupportIPv6 false")
	}
	get := func() bool {
		g := privatelink.CreateGetVpcEndpointServiceAttributeRequest()
		g.ServiceId = csr.ServiceId
		gr, err := c.PL.GetVpcEndpointServiceAttribute(g)
		must(t, "GetVpcEndpointServiceAttribute", err)
		strict[privatelink.GetVpcEndpointServiceAttributeResponse](t, "GetVpcEndpointServiceAttribute", gr)
		return gr.ServiceSupportIPv6
	}
	up := privatelink.CreateUpdateVpcEndpointServiceAttributeRequest()
	up.ServiceId, up.ServiceSupportIPv6 = csr.ServiceId, requests.NewBoolean(false)
	_, err = c.PL.UpdateVpcEndpointServiceAttribute(up)
	must(t, "UpdateVpcEndpointServiceAttribute ServiceSupportIPv6=false", err)
	if get() {
		t.Fatal("still dual-stack after ServiceSupportIPv6=false")
	}
	nf := privatelink.CreateNotifyResourceAddressFamilyRequest()
	nf.ResourceId, nf.ResourceType, nf.AddressFamily = backend, "backend", "DualStack"
	nr, err := c.PL.NotifyResourceAddressFamily(nf)
	must(t, "NotifyResourceAddressFamily", err)
	strict[privatelink.NotifyResourceAddressFamilyResponse](t, "NotifyResourceAddressFamily", nr)
	if !get() {
		t.Fatal("not dual-stack after NotifyResourceAddressFamily DualStack")
	}

	sg := ecs.CreateCreateSecurityGroupRequest()
	sg.VpcId = vpc.VpcID
	sgr, err := c.ECS.CreateSecurityGroup(sg)
	must(t, "CreateSecurityGroup", err)
	as := ecs.CreateAuthorizeSecurityGroupRequest()
	as.SecurityGroupId, as.IpProtocol, as.PortRange, as.Ipv6SourceCidrIp = sgr.SecurityGroupId, "TCP", "6001/6001", "fd66::/56"
	_, err = c.ECS.AuthorizeSecurityGroup(as)
	must(t, "AuthorizeSecurityGroup Ipv6SourceCidrIp", err)
	ds := ecs.CreateDescribeSecurityGroupAttributeRequest()
	ds.SecurityGroupId = sgr.SecurityGroupId
	dsr, err := c.ECS.DescribeSecurityGroupAttribute(ds)
	must(t, "DescribeSecurityGroupAttribute", err)
	strict[ecs.DescribeSecurityGroupAttributeResponse](t, "DescribeSecurityGroupAttribute", dsr)
	if p := dsr.Permissions.Permission; len(p) != 1 || p[0].Ipv6SourceCidrIp != "fd66::/56" || p[0].SourceCidrIp != "" {
		t.Fatalf("IPv6 rule shown as %+v", p)
	}

	want := "fd66:0:0:1::66"
	ce := privatelink.CreateCreateVpcEndpointRequest()
	ce.ServiceId, ce.VpcId, ce.SecurityGroupId = csr.ServiceId, vpc.VpcID, &[]string{sgr.SecurityGroupId}
	ce.Zone = &[]privatelink.CreateVpcEndpointZone{{ZoneId: zone, VSwitchId: sw.VSwitchID}}
	ce.QueryParams["Zone.1.Ipv6Address"] = want
	ce.QueryParams["AddressIpVersion"] = "DualStack"
	cer, err := c.PL.CreateVpcEndpoint(ce)
	must(t, "CreateVpcEndpoint Zone.1.Ipv6Address", err)
	lz := privatelink.CreateListVpcEndpointZonesRequest()
	lz.EndpointId = cer.EndpointId
	lzr, err := c.PL.ListVpcEndpointZones(lz)
	must(t, "ListVpcEndpointZones", err)
	strict[privatelink.ListVpcEndpointZonesResponse](t, "ListVpcEndpointZones", lzr)
	if z := lzr.Zones; len(z) != 1 || z[0].ZoneIpv6Address != want || z[0].EniIp == "" {
		t.Fatalf("zones: %+v", z)
	}

	for _, tc := range []struct {
		what string
		call func() error
		code string
	}{
		{"AddressIpVersion IPv6", func() error {
			u := privatelink.CreateUpdateVpcEndpointServiceAttributeRequest()
			u.ServiceId = csr.ServiceId
			u.QueryParams["AddressIpVersion"] = "IPv6"
			_, err := c.PL.UpdateVpcEndpointServiceAttribute(u)
			return err
		}, "InvalidParameter.AddressIpVersion"},
		{"contradicting ServiceSupportIPv6", func() error {
			u := privatelink.CreateUpdateVpcEndpointServiceAttributeRequest()
			u.ServiceId, u.ServiceSupportIPv6 = csr.ServiceId, requests.NewBoolean(false)
			u.QueryParams["AddressIpVersion"] = "DualStack"
			_, err := c.PL.UpdateVpcEndpointServiceAttribute(u)
			return err
		}, "InvalidParameter.ServiceSupportIPv6"},
		{"both sources", func() error {
			a := ecs.CreateAuthorizeSecurityGroupRequest()
			a.SecurityGroupId, a.IpProtocol, a.PortRange, a.SourceCidrIp, a.Ipv6SourceCidrIp = sgr.SecurityGroupId, "TCP", "1/1", "10.0.0.0/8", "fd00::/8"
			_, err := c.ECS.AuthorizeSecurityGroup(a)
			return err
		}, "InvalidParameter.SourceCidrIp"},
		{"IPv4 as Ipv6SourceCidrIp", func() error {
			a := ecs.CreateAuthorizeSecurityGroupRequest()
			a.SecurityGroupId, a.IpProtocol, a.PortRange, a.Ipv6SourceCidrIp = sgr.SecurityGroupId, "TCP", "1/1", "10.0.0.0/8"
			_, err := c.ECS.AuthorizeSecurityGroup(a)
			return err
		}, "InvalidParameter.Ipv6SourceCidrIp"},
		{"notify unknown resource", func() error {
			n := privatelink.CreateNotifyResourceAddressFamilyRequest()
			n.ResourceId, n.AddressFamily = "10.9.9.9:1", "DualStack"
			_, err := c.PL.NotifyResourceAddressFamily(n)
			return err
		}, "ResourceNotFound"},
		{"notify Ipv6Address", func() error {
			n := privatelink.CreateNotifyResourceAddressFamilyRequest()
			n.ResourceId, n.AddressFamily, n.Ipv6Address = backend, "DualStack", "fd66::9"
			_, err := c.PL.NotifyResourceAddressFamily(n)
			return err
		}, "OperationUnsupported"},
		{"endpoint IPv6 taken", func() error {
			_, err := c.PL.CreateVpcEndpoint(ce)
			return err
		}, "InvalidIpAddress.AlreadyUsed"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			err := tc.call()
			if se := serverError(t, tc.what, err); se.ErrorCode() != tc.code {
				t.Errorf("%s: code %s (%s), want %s", tc.what, se.ErrorCode(), se.Message(), tc.code)
			}
		})
	}
}

func intp(n int) *int { return &n }
