package agent

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// TestComputeServesOnlyAdmitted: an endpoint whose record says Connected
// gets listeners only while its service admits its account; its ENI stays.
func TestComputeServesOnlyAdmitted(t *testing.T) {
	const zone, consumer, provider = "z-h", "2000000000000002", "1000000000000001"
	ip := netip.MustParseAddr("10.0.0.5")
	ep := &model.Endpoint{EndpointID: "ep-1", AccountID: consumer, ServiceID: "svc-1", VpcID: "vpc-c",
		ConnectionStatus: model.ConnConnected, Zones: []model.EndpointZone{{ZoneID: zone, VSwitchID: "vsw-c", IP: ip}}}
	for _, tc := range []struct {
		name    string
		allowed []string
		serves  bool
	}{
		{"admitted", []string{consumer}, true},
		{"removed from the allow-list", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &store.State{
				VPCs:      map[string]*model.VPC{"vpc-c": {VpcID: "vpc-c"}},
				VSwitches: map[string]*model.VSwitch{"vsw-c": {VSwitchID: "vsw-c", VpcID: "vpc-c", ZoneID: zone, CidrBlock: netip.MustParsePrefix("10.0.0.0/24")}},
				Services: map[string]*model.EndpointService{"svc-1": {ServiceID: "svc-1", AccountID: provider, Ports: []int{80},
					AllowedAccounts: tc.allowed, Resources: []model.Backend{{ZoneID: zone, IP: netip.MustParseAddr("127.0.0.1")}}}},
				Endpoints: map[string]*model.Endpoint{"ep-1": ep},
			}
			d := compute(zone, s)
			if _, ok := d.listeners[listenerKey{EndpointID: "ep-1", Port: 80}]; ok != tc.serves {
				t.Errorf("listener: %v, want %v", ok, tc.serves)
			}
			if !d.enis[eniKey{VpcID: "vpc-c", VSwitchID: "vsw-c", IP: ip}] {
				t.Error("the ENI went with the listener")
			}
		})
	}
}

// TestComputeBandwidth: a connection's own cap (set by the provider)
// wins over the service's, and changing it changes the listener's version
// so the agent swaps its config.
func TestComputeBandwidth(t *testing.T) {
	const zone, acct = "z-h", "2000000000000002"
	ip := netip.MustParseAddr("10.0.0.5")
	var versions []string
	for _, tc := range []struct {
		name              string
		service, override int
		want              int
	}{
		{"unlimited", 0, 0, 0},
		{"the service's", 100, 0, 100},
		{"the connection's", 100, 8, 8},
		{"the connection's without a service cap", 0, 20, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &store.State{
				VPCs:      map[string]*model.VPC{"vpc-c": {VpcID: "vpc-c"}},
				VSwitches: map[string]*model.VSwitch{"vsw-c": {VSwitchID: "vsw-c", VpcID: "vpc-c", ZoneID: zone, CidrBlock: netip.MustParsePrefix("10.0.0.0/24")}},
				Services: map[string]*model.EndpointService{"svc-1": {ServiceID: "svc-1", AccountID: acct, Ports: []int{80}, ConnectBandwidth: tc.service,
					Resources: []model.Backend{{ZoneID: zone, IP: netip.MustParseAddr("127.0.0.1")}}}},
				Endpoints: map[string]*model.Endpoint{"ep-1": {EndpointID: "ep-1", AccountID: acct, ServiceID: "svc-1", VpcID: "vpc-c",
					ConnectionStatus: model.ConnConnected, ConnectionBandwidth: tc.override, Zones: []model.EndpointZone{{ZoneID: zone, VSwitchID: "vsw-c", IP: ip}}}},
			}
			l, ok := compute(zone, s).listeners[listenerKey{EndpointID: "ep-1", Port: 80}]
			if !ok {
				t.Fatal("no listener")
			}
			if l.cfg.BandwidthMbps != tc.want {
				t.Errorf("bandwidth %d Mbps, want %d", l.cfg.BandwidthMbps, tc.want)
			}
			if slices.Contains(versions, l.version) {
				t.Error("another bandwidth gave the same listener version: the agent would not swap the config")
			}
			versions = append(versions, l.version)
		})
	}
}

// TestComputeZoneDisabled: a zone whose connection the provider disabled
// keeps its ENI but gets no listener; the endpoint's other zones serve.
func TestComputeZoneDisabled(t *testing.T) {
	const acct = "2000000000000002"
	ips := []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.1.5")}
	s := &store.State{
		VPCs: map[string]*model.VPC{"vpc-c": {VpcID: "vpc-c"}},
		VSwitches: map[string]*model.VSwitch{
			"vsw-h": {VSwitchID: "vsw-h", VpcID: "vpc-c", ZoneID: "z-h", CidrBlock: netip.MustParsePrefix("10.0.0.0/24")},
			"vsw-i": {VSwitchID: "vsw-i", VpcID: "vpc-c", ZoneID: "z-i", CidrBlock: netip.MustParsePrefix("10.0.1.0/24")}},
		Services: map[string]*model.EndpointService{"svc-1": {ServiceID: "svc-1", AccountID: acct, Ports: []int{80},
			Resources: []model.Backend{{ZoneID: "z-h", IP: netip.MustParseAddr("127.0.0.1")}}}},
		Endpoints: map[string]*model.Endpoint{"ep-1": {EndpointID: "ep-1", AccountID: acct, ServiceID: "svc-1", VpcID: "vpc-c",
			ConnectionStatus: model.ConnConnected, Zones: []model.EndpointZone{
				{ZoneID: "z-h", VSwitchID: "vsw-h", IP: ips[0], ConnectionDisabled: true},
				{ZoneID: "z-i", VSwitchID: "vsw-i", IP: ips[1]}}}},
	}
	for i, tc := range []struct {
		zone, vsw string
		serves    bool
	}{{"z-h", "vsw-h", false}, {"z-i", "vsw-i", true}} {
		d := compute(tc.zone, s)
		if _, ok := d.listeners[listenerKey{EndpointID: "ep-1", Port: 80}]; ok != tc.serves {
			t.Errorf("zone %s: listener %v, want %v", tc.zone, ok, tc.serves)
		}
		if !d.enis[eniKey{VpcID: "vpc-c", VSwitchID: tc.vsw, IP: ips[i]}] {
			t.Errorf("zone %s: no ENI", tc.zone)
		}
	}
}

// TestComputePinnedResource: a zone pinned to one of the service's
// resources dials only its backends (each pin its own listener version);
// a pin whose backends the service no longer has is void.
func TestComputePinnedResource(t *testing.T) {
	const zone, acct = "z-h", "2000000000000002"
	ip := netip.MustParseAddr("10.0.0.5")
	b1 := model.Backend{ZoneID: zone, IP: netip.MustParseAddr("127.0.0.1"), Port: 7001}
	b2 := model.Backend{ZoneID: zone, IP: netip.MustParseAddr("127.0.0.2"), Port: 7001}
	gone := model.Backend{ZoneID: zone, IP: netip.MustParseAddr("127.0.0.9"), Port: 7001}
	addr := func(b model.Backend) netip.AddrPort { return netip.AddrPortFrom(b.IP, uint16(b.Port)) }
	var versions []string
	for _, tc := range []struct {
		name   string
		rid    string
		pinned []model.Backend
		want   []netip.AddrPort
	}{
		{"not pinned", "", nil, []netip.AddrPort{addr(b1), addr(b2)}},
		{"pinned to one backend", "127.0.0.2:7001", []model.Backend{b2}, []netip.AddrPort{addr(b2)}},
		{"pinned to a load balancer of both", "nlb-x", []model.Backend{b1, b2, gone}, []netip.AddrPort{addr(b1), addr(b2)}},
		{"pinned to a resource the service lost", "127.0.0.9:7001", []model.Backend{gone}, []netip.AddrPort{addr(b1), addr(b2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &store.State{
				VPCs:      map[string]*model.VPC{"vpc-c": {VpcID: "vpc-c"}},
				VSwitches: map[string]*model.VSwitch{"vsw-c": {VSwitchID: "vsw-c", VpcID: "vpc-c", ZoneID: zone, CidrBlock: netip.MustParsePrefix("10.0.0.0/24")}},
				Services: map[string]*model.EndpointService{"svc-1": {ServiceID: "svc-1", AccountID: acct, Ports: []int{80},
					Resources: []model.Backend{b1, b2}}},
				Endpoints: map[string]*model.Endpoint{"ep-1": {EndpointID: "ep-1", AccountID: acct, ServiceID: "svc-1", VpcID: "vpc-c",
					ConnectionStatus: model.ConnConnected, Zones: []model.EndpointZone{{ZoneID: zone, VSwitchID: "vsw-c", IP: ip,
						ResourceID: tc.rid, ResourceBackends: tc.pinned}}}},
			}
			l, ok := compute(zone, s).listeners[listenerKey{EndpointID: "ep-1", Port: 80}]
			if !ok {
				t.Fatal("no listener")
			}
			var got []netip.AddrPort
			for _, b := range l.cfg.Backends {
				got = append(got, b.Addr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("backends %v, want %v", got, tc.want)
			}
			if tc.name == "pinned to one backend" && slices.Contains(versions, l.version) {
				t.Error("pinning kept the listener version: the agent would not swap the config")
			}
			versions = append(versions, l.version)
		})
	}
}

// A listener's version changes with what shapes its config, whether that
// is the service, a security group's rules or the endpoint's groups, and
// stays the same when nothing did, also across snapshots (the agent swaps
// a listener's config only when its version changed).
func TestListenerVersion(t *testing.T) {
	svc := &model.EndpointService{ServiceID: "epsrv-1", VpcID: "vpc-p", Ports: []int{80}}
	sg := model.SecurityGroup{SecurityGroupID: "sg-1", Rules: []model.SecurityGroupRule{{SourceCidr: "10.0.0.0/8", PortRange: "80/80"}}}
	ep := &model.Endpoint{EndpointID: "ep-1", ServiceID: svc.ServiceID, SecurityGroupIDs: []string{"sg-1"}}
	v := func(svc *model.EndpointService, ep *model.Endpoint, groups ...model.SecurityGroup) string {
		return newSpecMemo().version(ep, svc, groups, nil, 80)
	}
	base := v(svc, ep, sg)
	if again := v(&model.EndpointService{ServiceID: "epsrv-1", VpcID: "vpc-p", Ports: []int{80}}, ep, sg); again != base {
		t.Error("the same service and groups in a new snapshot gave another version")
	}
	svc2 := *svc
	svc2.ProxyProtocol = true
	sg2 := sg
	sg2.Rules = []model.SecurityGroupRule{{SourceCidr: "10.1.0.0/16", PortRange: "80/80"}}
	ep2 := *ep
	ep2.SecurityGroupIDs = []string{"sg-1", "sg-2"}
	for name, got := range map[string]string{
		"service changed": v(&svc2, ep, sg),
		"rule changed":    v(svc, ep, sg2),
		"groups changed":  v(svc, &ep2, sg),
	} {
		if got == base {
			t.Errorf("%s: the version stayed the same", name)
		}
	}
	// One memo (one snapshot): endpoints with different groups get their own.
	m := newSpecMemo()
	if m.version(ep, svc, []model.SecurityGroup{sg}, nil, 80) == m.version(&ep2, svc, []model.SecurityGroup{sg, sg2}, nil, 80) {
		t.Error("one memo gave two group lists the same version")
	}
}
