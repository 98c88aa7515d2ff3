package aliyun_test

import (
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/privlink/privlink/internal/testenv"
)

// TestSDKIPv6: with the Alibaba Go SDK, CreateVpc EnableIpv6 or
// Ipv6CidrBlock (a ULA /56) makes a dual-stack VPC, CreateVSwitch
// Ipv6CidrBlock N takes its /64 number N; DescribeVpcAttribute,
// DescribeVpcs and DescribeVSwitchAttributes show Ipv6CidrBlock and
// EnabledIpv6 (strictly decoded); ModifyVpcAttribute EnableIPv6 gives an
// IPv4-only VPC its /56 once (other changes are refused); bad IPv6 input
// gets its code; Ipv6Isp is refused.
func TestSDKIPv6(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback"})
	zone := e.Config().Zones[0]
	rest, _ := e.Account(t, "v6sdk")
	k, err := rest.CreateAccessKey(bg)
	must(t, "key", err)
	c := akClients(t, e, k.AccessKeyID, k.AccessKeySecret)

	auto := vpc.CreateCreateVpcRequest()
	auto.CidrBlock, auto.EnableIpv6 = "10.7.0.0/16", requests.NewBoolean(true)
	ar, err := c.VPC.CreateVpc(auto)
	must(t, "CreateVpc EnableIpv6", err)
	da := vpc.CreateDescribeVpcAttributeRequest()
	da.VpcId = ar.VpcId
	dar, err := c.VPC.DescribeVpcAttribute(da)
	must(t, "DescribeVpcAttribute", err)
	strict[vpc.DescribeVpcAttributeResponse](t, "DescribeVpcAttribute", dar)
	got := dar
	if !got.EnabledIpv6 || len(got.Ipv6CidrBlock) < 4 || got.Ipv6CidrBlock[:2] != "fd" {
		t.Fatalf("auto IPv6 VPC: EnabledIpv6 %v Ipv6CidrBlock %q", got.EnabledIpv6, got.Ipv6CidrBlock)
	}

	own := vpc.CreateCreateVpcRequest()
	own.CidrBlock, own.Ipv6CidrBlock = "10.8.0.0/16", "fd12:3456:789a::/56"
	or, err := c.VPC.CreateVpc(own)
	must(t, "CreateVpc Ipv6CidrBlock", err)
	dvs := vpc.CreateDescribeVpcsRequest()
	dvs.VpcId = or.VpcId
	dvr, err := c.VPC.DescribeVpcs(dvs)
	must(t, "DescribeVpcs", err)
	strict[vpc.DescribeVpcsResponse](t, "DescribeVpcs", dvr)
	vs := dvr
	if len(vs.Vpcs.Vpc) != 1 || vs.Vpcs.Vpc[0].Ipv6CidrBlock != "fd12:3456:789a::/56" || !vs.Vpcs.Vpc[0].EnabledIpv6 {
		t.Fatalf("DescribeVpcs: %+v", vs.Vpcs.Vpc)
	}

	sw := vpc.CreateCreateVSwitchRequest()
	sw.VpcId, sw.ZoneId, sw.CidrBlock, sw.Ipv6CidrBlock = or.VpcId, zone, "10.8.5.0/24", requests.NewInteger(5)
	swr, err := c.VPC.CreateVSwitch(sw)
	must(t, "CreateVSwitch Ipv6CidrBlock", err)
	dsa := vpc.CreateDescribeVSwitchAttributesRequest()
	dsa.VSwitchId = swr.VSwitchId
	dsr, err := c.VPC.DescribeVSwitchAttributes(dsa)
	must(t, "DescribeVSwitchAttributes", err)
	strict[vpc.DescribeVSwitchAttributesResponse](t, "DescribeVSwitchAttributes", dsr)
	s := dsr
	if s.Ipv6CidrBlock != "fd12:3456:789a:5::/64" || !s.EnabledIpv6 {
		t.Fatalf("vSwitch: Ipv6CidrBlock %q EnabledIpv6 %v", s.Ipv6CidrBlock, s.EnabledIpv6)
	}
	plain := vpc.CreateCreateVSwitchRequest()
	plain.VpcId, plain.ZoneId, plain.CidrBlock = or.VpcId, zone, "10.8.6.0/24"
	pr, err := c.VPC.CreateVSwitch(plain)
	must(t, "CreateVSwitch IPv4 only", err)
	dsa.VSwitchId = pr.VSwitchId
	dsr, err = c.VPC.DescribeVSwitchAttributes(dsa)
	must(t, "DescribeVSwitchAttributes", err)
	strict[vpc.DescribeVSwitchAttributesResponse](t, "DescribeVSwitchAttributes", dsr)
	if s := dsr; s.Ipv6CidrBlock != "" || s.EnabledIpv6 {
		t.Fatalf("IPv4-only vSwitch: %q %v", s.Ipv6CidrBlock, s.EnabledIpv6)
	}

	// ModifyVpcAttribute EnableIPv6 on an IPv4-only VPC, once.
	pv := vpc.CreateCreateVpcRequest()
	pv.CidrBlock = "10.10.0.0/16"
	pvr, err := c.VPC.CreateVpc(pv)
	must(t, "CreateVpc IPv4 only", err)
	mod := vpc.CreateModifyVpcAttributeRequest()
	mod.VpcId, mod.EnableIPv6, mod.Ipv6CidrBlock = pvr.VpcId, requests.NewBoolean(true), "fd00:abcd:ef01::/56"
	mr, err := c.VPC.ModifyVpcAttribute(mod)
	must(t, "ModifyVpcAttribute EnableIPv6", err)
	strict[vpc.ModifyVpcAttributeResponse](t, "ModifyVpcAttribute", mr)
	da.VpcId = pvr.VpcId
	dar, err = c.VPC.DescribeVpcAttribute(da)
	must(t, "DescribeVpcAttribute", err)
	if dar.Ipv6CidrBlock != "fd00:abcd:ef01::/56" || !dar.EnabledIpv6 {
		t.Fatalf("after ModifyVpcAttribute: %q %v", dar.Ipv6CidrBlock, dar.EnabledIpv6)
	}
	_, err = c.VPC.ModifyVpcAttribute(mod)
	wantCode(t, "ModifyVpcAttribute twice", err, "InvalidVpc.Ipv6AlreadyEnabled", 409)
	rename := vpc.CreateModifyVpcAttributeRequest()
	rename.VpcId, rename.VpcName = pvr.VpcId, "renamed"
	_, err = c.VPC.ModifyVpcAttribute(rename)
	wantCode(t, "ModifyVpcAttribute VpcName", err, "OperationUnsupported", 400)

	bad := vpc.CreateCreateVpcRequest()
	bad.CidrBlock, bad.Ipv6CidrBlock = "10.9.0.0/16", "2001:db8::/56"
	_, err = c.VPC.CreateVpc(bad)
	wantCode(t, "CreateVpc global IPv6", err, "InvalidIpv6CidrBlock.NotUla", 400)
	bad.Ipv6CidrBlock, bad.Ipv6Isp = "", "BGP"
	_, err = c.VPC.CreateVpc(bad)
	if err == nil {
		t.Fatal("CreateVpc Ipv6Isp accepted")
	}
	taken := vpc.CreateCreateVSwitchRequest()
	taken.VpcId, taken.ZoneId, taken.CidrBlock, taken.Ipv6CidrBlock = or.VpcId, zone, "10.8.7.0/24", requests.NewInteger(5)
	_, err = c.VPC.CreateVSwitch(taken)
	wantCode(t, "CreateVSwitch taken /64", err, "InvalidIpv6CidrBlock.Overlapped", 409)
	noV6 := vpc.CreateCreateVSwitchRequest()
	noV6.VpcId, noV6.ZoneId, noV6.CidrBlock, noV6.Ipv6CidrBlock = ar.VpcId, zone, "10.7.7.0/24", requests.NewInteger(256)
	_, err = c.VPC.CreateVSwitch(noV6)
	if err == nil {
		t.Fatal("CreateVSwitch Ipv6CidrBlock 256 accepted")
	}
}
