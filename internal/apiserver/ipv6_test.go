package apiserver_test

import (
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

const v6zone = "cn-hangzhou-h"

// TestIPv6DualStack: a VPC gets a random ULA /56 (or the caller's, which
// two VPCs may share), its vSwitches /64s by index or the lowest free one,
// its hosts an address of each family (the lowest free one of the /64
// after its ::1 gateway, or the one asked for); an IPv4-only VPC and
// vSwitch give none; IPv6 can be enabled on an existing VPC once; deletes
// release the addresses and the /56.
func TestIPv6DualStack(t *testing.T) {
	e := startLoopback(t)
	c, _ := e.Account(t, "dual")

	auto, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", EnableIpv6: true})
	if err != nil {
		t.Fatal(err)
	}
	p := auto.Ipv6CidrBlock
	if !p.IsValid() || p.Bits() != 56 || p.Addr().As16()[0] != 0xfd || p.Addr().As16()[6] != 0 {
		t.Fatalf("auto IPv6 CIDR %v, want a fdXX:XXXX:XXXX:00::/56", p)
	}
	if got, _ := c.GetVPC(bg, auto.VpcID); got.Ipv6CidrBlock != p {
		t.Fatalf("GetVpc shows %v, want %v", got.Ipv6CidrBlock, p)
	}
	vsw3, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: auto.VpcID, ZoneID: v6zone, CidrBlock: "10.0.3.0/24", Ipv6CidrBlock: intp(3)})
	if err != nil {
		t.Fatal(err)
	}
	want3, _ := model.VSwitchIPv6CIDR(p, 3)
	if vsw3.Ipv6CidrBlock != want3 || vsw3.Ipv6Gateway != want3.Addr().Next() {
		t.Fatalf("vSwitch index 3: %v gw %v, want %v", vsw3.Ipv6CidrBlock, vsw3.Ipv6Gateway, want3)
	}
	vsw0, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: auto.VpcID, ZoneID: v6zone, CidrBlock: "10.0.0.0/24", EnableIpv6: true})
	if err != nil {
		t.Fatal(err)
	}
	if model.VSwitchIPv6Index(vsw0.Ipv6CidrBlock) != 0 {
		t.Fatalf("auto /64 %v, want index 0", vsw0.Ipv6CidrBlock)
	}
	v4only, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: auto.VpcID, ZoneID: v6zone, CidrBlock: "10.0.9.0/24"})
	if err != nil || v4only.Ipv6CidrBlock.IsValid() {
		t.Fatalf("IPv4-only vSwitch in a dual-stack VPC: %+v %v", v4only, err)
	}

	h1, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw3.VSwitchID})
	if err != nil {
		t.Fatal(err)
	}
	if want := want3.Addr().Next().Next(); h1.Ipv6Address != want || !h1.IP.Is4() {
		t.Fatalf("host addresses %v %v, want an IPv4 one and %v", h1.IP, h1.Ipv6Address, want)
	}
	chosen := netip.MustParseAddr(strings.TrimSuffix(want3.Addr().String(), "::") + "::beef")
	h2, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw3.VSwitchID, Ipv6Address: chosen.String()})
	if err != nil || h2.Ipv6Address != chosen {
		t.Fatalf("chosen IPv6 %v: %+v %v", chosen, h2.Ipv6Address, err)
	}
	_, err = c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw3.VSwitchID, Ipv6Address: chosen.String()})
	wantCode(t, err, "InvalidIpAddress.AlreadyUsed")
	h4, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: v4only.VSwitchID})
	if err != nil || h4.Ipv6Address.IsValid() {
		t.Fatalf("host on an IPv4-only vSwitch: %v %v", h4.Ipv6Address, err)
	}
	// Deleting a host frees its IPv6 address: the next host gets it.
	if _, err := c.DeleteHost(bg, h1.HostID); err != nil {
		t.Fatal(err)
	}
	h5, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw3.VSwitchID})
	if err != nil || h5.Ipv6Address != h1.Ipv6Address {
		t.Fatalf("after delete: %v %v, want %v again", h5.Ipv6Address, err, h1.Ipv6Address)
	}

	// The caller's /56: two VPCs may share it (their networks are apart).
	for range 2 {
		v, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "192.168.0.0/16", Ipv6CidrBlock: "fd00:aaaa:bbbb::/56"})
		if err != nil || v.Ipv6CidrBlock.String() != "fd00:aaaa:bbbb::/56" {
			t.Fatalf("given /56: %v %v", v.Ipv6CidrBlock, err)
		}
	}

	// IPv6 on an existing VPC, once.
	plain, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "172.16.0.0/16"})
	if err != nil || plain.Ipv6CidrBlock.IsValid() {
		t.Fatalf("IPv4-only VPC: %v %v", plain.Ipv6CidrBlock, err)
	}
	_, err = c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: plain.VpcID, ZoneID: v6zone, CidrBlock: "172.16.0.0/24", EnableIpv6: true})
	wantCode(t, err, model.CodeIPv6NotEnabled)
	en, err := c.AllocateVpcIpv6Cidr(bg, plain.VpcID, api.AllocateVpcIpv6CidrRequest{})
	if err != nil || !en.Ipv6CidrBlock.IsValid() || en.Ipv6CidrBlock == p {
		t.Fatalf("enable IPv6: %v %v", en.Ipv6CidrBlock, err)
	}
	_, err = c.AllocateVpcIpv6Cidr(bg, plain.VpcID, api.AllocateVpcIpv6CidrRequest{Ipv6CidrBlock: "fd00:1::/56"})
	wantCode(t, err, model.CodeIPv6Enabled)
	other, _ := e.Account(t, "stranger")
	_, err = other.AllocateVpcIpv6Cidr(bg, auto.VpcID, api.AllocateVpcIpv6CidrRequest{})
	wantCode(t, err, "VpcNotFound")
	if _, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: plain.VpcID, ZoneID: v6zone, CidrBlock: "172.16.0.0/24", EnableIpv6: true}); err != nil {
		t.Fatalf("vSwitch after enabling: %v", err)
	}

	// Deleting the VPC releases its /56 index and host addresses.
	for _, h := range []api.Host{h2, h4, h5} {
		if _, err := c.DeleteHost(bg, h.HostID); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []api.VSwitch{vsw0, vsw3, v4only} {
		if _, err := c.DeleteVSwitch(bg, s.VSwitchID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteVPC(bg, auto.VpcID); err != nil {
		t.Fatal(err)
	}
	for k := range storeDump(t, e) {
		if strings.Contains(k, auto.VpcID) || strings.Contains(k, vsw3.VSwitchID) {
			t.Errorf("key %s left after deleting VPC %s", k, auto.VpcID)
		}
	}
}

// TestIPv6Validation: bad IPv6 input is answered with its code and writes
// nothing.
func TestIPv6Validation(t *testing.T) {
	e := startLoopback(t)
	c, _ := e.Account(t, "v6bad")
	dual, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", Ipv6CidrBlock: "fd12:3456:789a::/56"})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	taken, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: dual.VpcID, ZoneID: v6zone, CidrBlock: "10.0.1.0/24", Ipv6CidrBlock: intp(1)})
	if err != nil {
		t.Fatal(err)
	}
	v4sw, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: dual.VpcID, ZoneID: v6zone, CidrBlock: "10.0.2.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	vpc := func(v6 string) api.CreateVPCRequest {
		return api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", Ipv6CidrBlock: v6}
	}
	vsw := func(vpcID string, index int) map[string]any {
		return map[string]any{"vpcId": vpcID, "zoneId": v6zone, "cidrBlock": "10.0.7.0/24", "ipv6CidrBlock": index}
	}
	host := func(vswID, ip6 string) api.CreateHostRequest {
		return api.CreateHostRequest{VSwitchID: vswID, Ipv6Address: ip6}
	}
	enable := "/v1/vpcs/" + plain.VpcID + "/ipv6-cidr"
	cases := []struct {
		name, path string
		body       any
		code       string
	}{
		{"vpc garbage", "/v1/vpcs", vpc("banana"), model.CodeIPv6Malformed},
		{"vpc ipv4 as ipv6", "/v1/vpcs", vpc("10.0.0.0/8"), model.CodeIPv6Malformed},
		{"vpc host bits", "/v1/vpcs", vpc("fd12:3456:789a:1::/56"), model.CodeIPv6Malformed},
		{"vpc /48", "/v1/vpcs", vpc("fd12:3456:789a::/48"), model.CodeIPv6PrefixLength},
		{"vpc /64", "/v1/vpcs", vpc("fd12:3456:789a::/64"), model.CodeIPv6PrefixLength},
		{"vpc global unicast", "/v1/vpcs", vpc("2001:db8:0:100::/56"), model.CodeIPv6NotULA},
		{"vpc link local", "/v1/vpcs", vpc("fe80::/56"), model.CodeIPv6NotULA},
		{"enable garbage", enable, api.AllocateVpcIpv6CidrRequest{Ipv6CidrBlock: "fd00::/48"}, model.CodeIPv6PrefixLength},
		{"enable twice", "/v1/vpcs/" + dual.VpcID + "/ipv6-cidr", api.AllocateVpcIpv6CidrRequest{}, model.CodeIPv6Enabled},
		{"enable unknown vpc", "/v1/vpcs/vpc-nonexistent0000/ipv6-cidr", api.AllocateVpcIpv6CidrRequest{}, "VpcNotFound"},
		{"vsw index 256", "/v1/vswitches", vsw(dual.VpcID, 256), model.CodeIPv6IndexRange},
		{"vsw index -1", "/v1/vswitches", vsw(dual.VpcID, -1), model.CodeIPv6IndexRange},
		{"vsw index taken", "/v1/vswitches", vsw(dual.VpcID, 1), model.CodeIPv6Overlapped},
		{"vsw in ipv4-only vpc", "/v1/vswitches", vsw(plain.VpcID, 0), model.CodeIPv6NotEnabled},
		{"vsw enable in ipv4-only vpc", "/v1/vswitches", api.CreateVSwitchRequest{VpcID: plain.VpcID, ZoneID: v6zone, CidrBlock: "10.0.7.0/24", EnableIpv6: true}, model.CodeIPv6NotEnabled},
		{"host ipv6 garbage", "/v1/hosts", host(taken.VSwitchID, "fd12::zz"), model.CodeIPv6Address},
		{"host ipv4 as ipv6", "/v1/hosts", host(taken.VSwitchID, "10.0.1.5"), model.CodeIPv6Address},
		{"host ipv6 outside /64", "/v1/hosts", host(taken.VSwitchID, "fd12:3456:789a:2::5"), "InvalidParameter.Ipv6Address"},
		{"host ipv6 gateway", "/v1/hosts", host(taken.VSwitchID, "fd12:3456:789a:1::1"), "InvalidParameter.Ipv6Address"},
		{"host ipv6 subnet anycast", "/v1/hosts", host(taken.VSwitchID, "fd12:3456:789a:1::"), "InvalidParameter.Ipv6Address"},
		{"host ipv6 on ipv4-only vsw", "/v1/hosts", host(v4sw.VSwitchID, "fd12:3456:789a:1::5"), "InvalidVSwitch.Ipv6NotEnabled"},
	}
	before := storeDump(t, e)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, c.Do(bg, "POST", tc.path, tc.body, nil), tc.code)
		})
	}
	sameDump(t, before, storeDump(t, e), "rejected IPv6 requests")
}

// TestIPv6TwoServersRace: two API servers on one etcd, 20 concurrent VPC
// creates with auto IPv6 get 20 distinct /56s; 20 concurrent hosts in one
// dual-stack vSwitch get 20 distinct IPv6 addresses.
func TestIPv6TwoServersRace(t *testing.T) {
	e1 := startLoopback(t)
	e2 := testenv.Start(t, testenv.Options{Network: "loopback", EtcdEndpoints: []string{e1.EtcdURL()}, AgentZones: []string{}})
	c1, id := e1.Account(t, "v6racer")
	if _, err := e1.Admin.SetQuota(bg, id, api.SetQuotaRequest{Vpcs: intp(30)}); err != nil {
		t.Fatal(err)
	}
	c2 := client.New(e2.URL(), c1.Token())
	clients := []*client.Client{c1, c2}

	var mu sync.Mutex
	var wg sync.WaitGroup
	cidrs := map[netip.Prefix]int{}
	for i := range 20 {
		wg.Go(func() {
			v, err := clients[i%2].CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", EnableIpv6: true})
			mu.Lock()
			defer mu.Unlock()
			if err != nil || !v.Ipv6CidrBlock.IsValid() {
				t.Errorf("create: %v %v", v.Ipv6CidrBlock, err)
				return
			}
			cidrs[v.Ipv6CidrBlock]++
		})
	}
	wg.Wait()
	if len(cidrs) != 20 {
		t.Errorf("20 creates gave %d distinct /56s: %v", len(cidrs), cidrs)
	}

	vpc, err := c1.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", EnableIpv6: true})
	if err != nil {
		t.Fatal(err)
	}
	vsw, err := c2.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: v6zone, CidrBlock: "10.0.0.0/24", EnableIpv6: true})
	if err != nil {
		t.Fatal(err)
	}
	ips := map[netip.Addr]int{}
	for i := range 20 {
		wg.Go(func() {
			h, err := clients[i%2].CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID})
			mu.Lock()
			defer mu.Unlock()
			if err != nil || !vsw.Ipv6CidrBlock.Contains(h.Ipv6Address) {
				t.Errorf("host: %v %v", h.Ipv6Address, err)
				return
			}
			ips[h.Ipv6Address]++
		})
	}
	wg.Wait()
	if len(ips) != 20 {
		t.Errorf("20 hosts got %d distinct IPv6 addresses: %v", len(ips), ips)
	}
}
