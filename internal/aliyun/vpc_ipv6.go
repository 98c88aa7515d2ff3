package aliyun

import (
	"github.com/privlink/privlink/internal/api"
)

// modifyVpcAttribute is Alibaba's ModifyVpcAttribute for what privlink
// can change on a VPC: EnableIPv6=true gives an IPv4-only VPC its IPv6 /56
// (Ipv6CidrBlock: the caller's, in fc00::/7; else a random ULA one), as
// AllocateVpcIpv6Cidr of /v1. Name, description, CIDR and DNS changes are
// refused: VPCs are not updatable yet.
func modifyVpcAttribute(c *call) (response, error) {
	id, err := c.p.required("VpcId")
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"VpcName", "Description", "CidrBlock", "EnableDnsHostname"} {
		if err := c.p.unsupported(k, "privlink VPCs cannot be changed after creation except to enable IPv6"); err != nil {
			return nil, err
		}
	}
	if err := c.p.unsupported("Ipv6Isp", "privlink's IPv6 is one unique local (ULA) /56 per VPC"); err != nil {
		return nil, err
	}
	enable, err := c.p.boolean("EnableIPv6")
	if err != nil {
		return nil, err
	}
	if !enable {
		if err := c.p.unsupported("Ipv6CidrBlock", "give it with EnableIPv6=true"); err != nil {
			return nil, err
		}
		if _, err := c.c.GetVPC(c.ctx, id); err != nil { // nothing to change; the VPC must still be the caller's
			return nil, err
		}
		return &Base{}, nil
	}
	if _, err := c.c.AllocateVpcIpv6Cidr(c.ctx, id, api.AllocateVpcIpv6CidrRequest{Ipv6CidrBlock: c.p.str("Ipv6CidrBlock")}); err != nil {
		return nil, err
	}
	return &Base{}, nil
}
