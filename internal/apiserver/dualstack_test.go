package apiserver_test

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
)

// TestDualStackEndpointAPI: a service declares its address families
// (Alibaba's spellings accepted, stored lower case), takes IPv6 backends
// of its VPC's /64s; an endpoint of a dualstack service gets an IPv6 ENI
// in each dual-stack vSwitch (the lowest free address after ::1, or the
// one asked for) and none in an IPv4-only one; concurrent creates never
// share an address; deleting releases it; bad input gets its code and
// persists nothing.
func TestDualStackEndpointAPI(t *testing.T) {
	e := startLoopback(t)
	prov, _ := e.Account(t, "v6prov")
	cons, consID := e.Account(t, "v6cons")

	pvpc, err := prov.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.1.0.0/16", EnableIpv6: true})
	mustOK(t, err)
	psw, err := prov.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: pvpc.VpcID, ZoneID: v6zone, CidrBlock: "10.1.1.0/24", Ipv6CidrBlock: intp(1)})
	mustOK(t, err)
	ph, err := prov.CreateHost(bg, api.CreateHostRequest{VSwitchID: psw.VSwitchID})
	mustOK(t, err)
	svcReq := func(version string, ips ...string) api.CreateServiceRequest {
		r := api.CreateServiceRequest{VpcID: pvpc.VpcID, Ports: []int{6001}, AddressIPVersion: version, AutoAcceptEnabled: true, AllowedAccounts: []string{consID}}
		for _, ip := range ips {
			r.Resources = append(r.Resources, api.BackendSpec{ZoneID: v6zone, IP: ip})
		}
		return r
	}
	dual, err := prov.CreateService(bg, svcReq("DualStack", ph.Ipv6Address.String(), ph.IP.String()))
	mustOK(t, err)
	if dual.AddressIPVersion != model.AddressDualStack || len(dual.Resources) != 2 || dual.Resources[0].IP != ph.Ipv6Address {
		t.Fatalf("dual-stack service: %q %v", dual.AddressIPVersion, dual.Resources)
	}
	v4svc, err := prov.CreateService(bg, svcReq("", ph.IP.String()))
	mustOK(t, err)
	if v4svc.AddressIPVersion != model.AddressIPv4 {
		t.Fatalf("default addressIpVersion %q, want ipv4", v4svc.AddressIPVersion)
	}

	for _, tc := range []struct {
		name string
		req  api.CreateServiceRequest
		code string
	}{
		{"unknown family", svcReq("ipv6", ph.IP.String()), model.CodeAddressIPVersion},
		{"zoned backend", svcReq("dualstack", "fe80::1%eth0"), "InvalidParameter.Resources.Ip"},
		{"mapped backend", svcReq("dualstack", "::ffff:10.1.1.2"), "InvalidParameter.Resources.Ip"},
		{"backend outside the /64s", svcReq("dualstack", "fd00:1::5"), "InvalidParameter.Resources.Ip"},
		{"backend is the IPv6 gateway", svcReq("dualstack", psw.Ipv6Gateway.String()), "InvalidParameter.Resources.Ip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := prov.CreateService(bg, tc.req)
			wantCode(t, err, tc.code)
		})
	}
	_, err = prov.UpdateService(bg, dual.ServiceID, api.UpdateServiceRequest{AddressIPVersion: strp("both")})
	wantCode(t, err, model.CodeAddressIPVersion)

	cvpc, err := cons.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.1.0.0/16", EnableIpv6: true})
	mustOK(t, err)
	csw, err := cons.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: cvpc.VpcID, ZoneID: v6zone, CidrBlock: "10.1.1.0/24", Ipv6CidrBlock: intp(7)})
	mustOK(t, err)
	csw4, err := cons.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: cvpc.VpcID, ZoneID: v6zone, CidrBlock: "10.1.2.0/24"})
	mustOK(t, err)
	sg, err := cons.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: cvpc.VpcID,
		Rules: []model.SecurityGroupRule{{PortRange: "6001/6001", SourceCidr: "fd00::/8"}, {PortRange: "6001/6001", SourceCidr: "fd00::7"}}})
	mustOK(t, err)
	if sg.Rules[0].SourceCidr != "fd00::/8" || sg.Rules[1].SourceCidr != "fd00::7/128" {
		t.Fatalf("IPv6 rules stored as %v", sg.Rules)
	}
	_, err = cons.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: cvpc.VpcID,
		Rules: []model.SecurityGroupRule{{PortRange: "6001/6001", SourceCidr: "::ffff:10.0.0.0/104"}}})
	wantCode(t, err, "InvalidParameter.SourceCidrIp")

	epReq := func(svc model.EndpointService, vswID, ip6 string) api.CreateEndpointRequest {
		return api.CreateEndpointRequest{ServiceID: svc.ServiceID, VpcID: cvpc.VpcID, SecurityGroupIDs: []string{sg.SecurityGroupID},
			Zones: []api.EndpointZoneRequest{{ZoneID: v6zone, VSwitchID: vswID, Ipv6Address: ip6}}}
	}
	lowest := csw.Ipv6Gateway.Next() // ::2
	ep, err := cons.CreateEndpoint(bg, epReq(dual, csw.VSwitchID, ""))
	mustOK(t, err)
	if z := ep.Zones[0]; z.Ipv6Address != lowest || !z.IP.Is4() {
		t.Fatalf("first IPv6 ENI %v (IPv4 %v), want %v", z.Ipv6Address, z.IP, lowest)
	}
	ep4, err := cons.CreateEndpoint(bg, epReq(v4svc, csw.VSwitchID, ""))
	mustOK(t, err)
	if ep4.Zones[0].Ipv6Address.IsValid() {
		t.Fatalf("an ipv4 service's endpoint got IPv6 %v", ep4.Zones[0].Ipv6Address)
	}
	epV4sw, err := cons.CreateEndpoint(bg, epReq(dual, csw4.VSwitchID, ""))
	mustOK(t, err)
	if epV4sw.Zones[0].Ipv6Address.IsValid() {
		t.Fatalf("a zone on an IPv4-only vSwitch got IPv6 %v", epV4sw.Zones[0].Ipv6Address)
	}

	wanted := netip.MustParseAddr(fmt.Sprintf("%s99", csw.Ipv6CidrBlock.Addr()))
	for _, tc := range []struct {
		name string
		req  api.CreateEndpointRequest
		code string
	}{
		{"malformed", epReq(dual, csw.VSwitchID, "fd00::zz"), "InvalidParameter.Zones.Ipv6Address"},
		{"IPv4 as IPv6", epReq(dual, csw.VSwitchID, "10.1.1.9"), "InvalidParameter.Zones.Ipv6Address"},
		{"outside the /64", epReq(dual, csw.VSwitchID, "fd00:9::9"), "InvalidParameter.Zones.Ipv6Address"},
		{"the gateway", epReq(dual, csw.VSwitchID, csw.Ipv6Gateway.String()), "InvalidParameter.Zones.Ipv6Address"},
		{"taken", epReq(dual, csw.VSwitchID, lowest.String()), "InvalidIpAddress.AlreadyUsed"},
		{"ipv4 service", epReq(v4svc, csw.VSwitchID, wanted.String()), "OperationDenied.ServiceNotDualStack"},
		{"IPv4-only vSwitch", epReq(dual, csw4.VSwitchID, wanted.String()), "InvalidVSwitch.Ipv6NotEnabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cons.CreateEndpoint(bg, tc.req)
			wantCode(t, err, tc.code)
		})
	}
	// Nothing of the refused creates was kept: the wanted address is free.
	got, err := cons.CreateEndpoint(bg, epReq(dual, csw.VSwitchID, wanted.String()))
	mustOK(t, err)
	if got.Zones[0].Ipv6Address != wanted {
		t.Fatalf("asked for %v, got %v", wanted, got.Zones[0].Ipv6Address)
	}
	_, err = cons.DeleteEndpoint(bg, got.EndpointID)
	mustOK(t, err)
	again, err := cons.CreateEndpoint(bg, epReq(dual, csw.VSwitchID, wanted.String()))
	mustOK(t, err)
	if again.Zones[0].Ipv6Address != wanted {
		t.Fatalf("after the delete: got %v, want the released %v", again.Zones[0].Ipv6Address, wanted)
	}

	// Concurrent creates in one vSwitch: each IPv6 address once.
	const n = 6
	var wg sync.WaitGroup
	addrs := make([]netip.Addr, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ep, err := cons.CreateEndpoint(bg, epReq(dual, csw.VSwitchID, ""))
			if err == nil {
				addrs[i] = ep.Zones[0].Ipv6Address
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{lowest: true, wanted: true}
	for i, a := range addrs {
		if errs[i] != nil {
			t.Fatalf("concurrent create %d: %v", i, errs[i])
		}
		if seen[a] || !csw.Ipv6CidrBlock.Contains(a) {
			t.Fatalf("concurrent create %d got %v: taken twice or outside %s", i, a, csw.Ipv6CidrBlock)
		}
		seen[a] = true
	}

	// Switching the service to ipv4 keeps the zones' addresses (they serve
	// again when it is dual-stack again); new endpoints get none.
	up, err := prov.UpdateService(bg, dual.ServiceID, api.UpdateServiceRequest{AddressIPVersion: strp("IPv4")})
	mustOK(t, err)
	if up.AddressIPVersion != model.AddressIPv4 {
		t.Fatalf("updated to %q", up.AddressIPVersion)
	}
	kept, err := cons.GetEndpoint(bg, ep.EndpointID)
	mustOK(t, err)
	if kept.Zones[0].Ipv6Address != lowest {
		t.Fatalf("zone address after the switch: %v", kept.Zones[0].Ipv6Address)
	}
	later, err := cons.CreateEndpoint(bg, epReq(dual, csw.VSwitchID, ""))
	mustOK(t, err)
	if later.Zones[0].Ipv6Address.IsValid() {
		t.Fatalf("an endpoint of the now-ipv4 service got %v", later.Zones[0].Ipv6Address)
	}
}

func strp(s string) *string { return &s }

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
