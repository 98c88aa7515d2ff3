package agent

import (
	"net/netip"
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// TestComputeDualStackHost: a host with an IPv6 address in a dual-stack
// vSwitch is handed to the driver with its address and the vSwitch's /64;
// a host of an IPv4-only vSwitch without.
func TestComputeDualStackHost(t *testing.T) {
	const zone = "z-h"
	sub := netip.MustParsePrefix("fd12:3456:789a:1::/64")
	v4 := netip.MustParsePrefix("10.0.0.0/24")
	s := &store.State{
		VPCs: map[string]*model.VPC{"vpc-c": {VpcID: "vpc-c"}},
		VSwitches: map[string]*model.VSwitch{
			"vsw-6": {VSwitchID: "vsw-6", VpcID: "vpc-c", ZoneID: zone, CidrBlock: v4, Gateway: model.Gateway(v4), Ipv6CidrBlock: sub, Ipv6Gateway: model.IPv6Gateway(sub)},
			"vsw-4": {VSwitchID: "vsw-4", VpcID: "vpc-c", ZoneID: zone, CidrBlock: netip.MustParsePrefix("10.0.1.0/24"), Gateway: netip.MustParseAddr("10.0.1.1")},
		},
		Hosts: map[string]*model.Host{
			"i-6": {HostID: "i-6", VpcID: "vpc-c", VSwitchID: "vsw-6", ZoneID: zone, IP: netip.MustParseAddr("10.0.0.2"), Ipv6Address: netip.MustParseAddr("fd12:3456:789a:1::2")},
			"i-4": {HostID: "i-4", VpcID: "vpc-c", VSwitchID: "vsw-4", ZoneID: zone, IP: netip.MustParseAddr("10.0.1.2")},
		},
	}
	d := compute(zone, s)
	if h := d.hosts["i-6"]; h.IP6.String() != "fd12:3456:789a:1::2" || h.Prefix6 != sub || h.IP.String() != "10.0.0.2" {
		t.Errorf("dual-stack host: %+v", h)
	}
	if h := d.hosts["i-4"]; h.IP6.IsValid() || h.Prefix6.IsValid() {
		t.Errorf("IPv4-only host: %+v", h)
	}
}
