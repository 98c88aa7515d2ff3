package agent

import (
	"net/netip"
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// TestComputeDualStack: a zone with an IPv6 ENI gets it placed and TCP
// and UDP listeners on it while the service is dualstack and the
// connection carries traffic; a pending connection keeps both ENIs and no
// listener; an ipv4 service neither places the IPv6 ENI nor listens on
// it; dropIPv6 (the loopback driver) removes them all.
func TestComputeDualStack(t *testing.T) {
	const zone, acct = "z-h", "2000000000000002"
	ip, ip6 := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00:0:0:1::5")
	k6 := eniKey{VpcID: "vpc-c", VSwitchID: "vsw-c", IP: ip6}
	v6tcp, v6udp := listenerKey{EndpointID: "ep-1", Port: 80, V6: true}, listenerKey{EndpointID: "ep-1", Port: 53, V6: true}
	for _, tc := range []struct {
		name            string
		version, status string
		eni, listens    bool
	}{
		{"dualstack, connected", model.AddressDualStack, model.ConnConnected, true, true},
		{"dualstack, pending", model.AddressDualStack, model.ConnPending, true, false},
		{"ipv4", model.AddressIPv4, model.ConnConnected, false, false},
		{"record without the field", "", model.ConnConnected, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &store.State{
				VPCs: map[string]*model.VPC{"vpc-c": {VpcID: "vpc-c"}},
				VSwitches: map[string]*model.VSwitch{"vsw-c": {VSwitchID: "vsw-c", VpcID: "vpc-c", ZoneID: zone, CidrBlock: netip.MustParsePrefix("10.0.0.0/24"),
					Ipv6CidrBlock: netip.MustParsePrefix("fd00:0:0:1::/64")}},
				Services: map[string]*model.EndpointService{"svc-1": {ServiceID: "svc-1", AccountID: acct, Ports: []int{80}, UDPPorts: []int{53},
					AddressIPVersion: tc.version, Resources: []model.Backend{{ZoneID: zone, IP: netip.MustParseAddr("fd00:0:0:2::9")}}}},
				Endpoints: map[string]*model.Endpoint{"ep-1": {EndpointID: "ep-1", AccountID: acct, ServiceID: "svc-1", VpcID: "vpc-c",
					ConnectionStatus: tc.status, Zones: []model.EndpointZone{{ZoneID: zone, VSwitchID: "vsw-c", IP: ip, Ipv6Address: ip6}}}},
			}
			d := compute(zone, s)
			if d.enis[k6] != tc.eni {
				t.Errorf("IPv6 ENI placed: %v, want %v", d.enis[k6], tc.eni)
			}
			_, tcp := d.listeners[v6tcp]
			_, udp := d.udp[v6udp]
			if tcp != tc.listens || udp != tc.listens {
				t.Errorf("IPv6 listeners tcp %v udp %v, want %v", tcp, udp, tc.listens)
			}
			if tc.listens && d.listeners[v6tcp].addr != netip.AddrPortFrom(ip6, 80) {
				t.Errorf("IPv6 listener on %v", d.listeners[v6tcp].addr)
			}
			d.dropIPv6()
			_, tcp = d.listeners[v6tcp]
			_, udp = d.udp[v6udp]
			if d.enis[k6] || tcp || udp || !d.enis[eniKey{VpcID: "vpc-c", VSwitchID: "vsw-c", IP: ip}] {
				t.Errorf("after dropIPv6: IPv6 ENI %v, listeners %v %v; the IPv4 ENI must stay", d.enis[k6], tcp, udp)
			}
		})
	}
}
