package overlay

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
)

var ap = netip.MustParseAddr

func reg(name, underlay string, idx int) *model.NodeReg {
	r := &model.NodeReg{Name: name, ZoneID: "h", Index: idx, OverlayAddr: model.OverlayAddr(idx)}
	if underlay != "" {
		r.UnderlayAddr = ap(underlay)
	}
	return r
}

// world: VPC A (VNI 4096) with hosts on n1 and n2, VPC B (VNI 4097, the
// same CIDR) with a host on n3, VPC P (provider, VNI 4098) with a backend
// on n3; endpoint e in A (zone h, ENI .50) of a service in P, placed on
// placeNode.
func world(placeNode string) *store.State {
	st := &store.State{
		VPCs: map[string]*model.VPC{"vpc-a": {VpcID: "vpc-a", VNI: 4096}, "vpc-b": {VpcID: "vpc-b", VNI: 4097},
			"vpc-p": {VpcID: "vpc-p", VNI: 4098}, "vpc-old": {VpcID: "vpc-old"}},
		Hosts: map[string]*model.Host{
			"i-1": {HostID: "i-1", VpcID: "vpc-a", IP: ap("192.168.0.11"), NodeName: "n1"},
			"i-2": {HostID: "i-2", VpcID: "vpc-a", IP: ap("192.168.0.12"), NodeName: "n2"},
			"i-3": {HostID: "i-3", VpcID: "vpc-b", IP: ap("192.168.0.12"), NodeName: "n3"},
			"i-4": {HostID: "i-4", VpcID: "vpc-p", IP: ap("10.0.1.5"), NodeName: "n3"},
			"i-5": {HostID: "i-5", VpcID: "vpc-old", IP: ap("10.9.0.5")}, // before nodes: the default node's
		},
		Services:  map[string]*model.EndpointService{"svc": {ServiceID: "svc", VpcID: "vpc-p"}},
		Endpoints: map[string]*model.Endpoint{"ep": {EndpointID: "ep", VpcID: "vpc-a", ServiceID: "svc", Zones: []model.EndpointZone{{ZoneID: "h", IP: ap("192.168.0.50")}}}},
		NodeRegs: map[string]*model.NodeReg{"n1": reg("n1", "10.255.0.1", 1), "n2": reg("n2", "10.255.0.2", 2),
			"n3": reg("n3", "10.255.0.3", 3), "solo": reg("solo", "", 4)},
		Placements: map[string]*model.ENIPlacement{},
	}
	if placeNode != "" {
		st.Placements["ep/h"] = &model.ENIPlacement{Node: placeNode, NodeLease: 7}
	}
	return st
}

func peer(u string) netdrv.Peer { return netdrv.Peer{MAC: netdrv.VTEPMAC(ap(u)), Underlay: ap(u)} }

func TestCompute(t *testing.T) {
	m := func(u string) string { return netdrv.VTEPMAC(ap(u)).String() }
	for _, tc := range []struct {
		name, self, place string
		want              map[string]map[string]string // vpc -> remote addr -> peer MAC
		peers             map[string][]netdrv.Peer
	}{
		{name: "no placement: hosts only", self: "n1",
			want:  map[string]map[string]string{"vpc-a": {"192.168.0.12": m("10.255.0.2"), "169.254.0.2": m("10.255.0.2")}},
			peers: map[string][]netdrv.Peer{"vpc-a": {peer("10.255.0.2")}}},
		{name: "ENI on n2: n1 routes it to n2", self: "n1", place: "n2",
			want:  map[string]map[string]string{"vpc-a": {"192.168.0.12": m("10.255.0.2"), "192.168.0.50": m("10.255.0.2"), "169.254.0.2": m("10.255.0.2")}},
			peers: map[string][]netdrv.Peer{"vpc-a": {peer("10.255.0.2")}}},
		{name: "ENI on n2: n2 holds the provider copy, reaches the backend on n3", self: "n2", place: "n2",
			want: map[string]map[string]string{"vpc-a": {"192.168.0.11": m("10.255.0.1"), "169.254.0.1": m("10.255.0.1")},
				"vpc-p": {"10.0.1.5": m("10.255.0.3"), "169.254.0.3": m("10.255.0.3")}},
			peers: map[string][]netdrv.Peer{"vpc-a": {peer("10.255.0.1")}, "vpc-p": {peer("10.255.0.3")}}},
		{name: "n3: VPC B alone (no peer), provider copy routes n2's overlay address", self: "n3", place: "n2",
			want:  map[string]map[string]string{"vpc-b": {}, "vpc-p": {"169.254.0.2": m("10.255.0.2")}},
			peers: map[string][]netdrv.Peer{"vpc-b": nil, "vpc-p": {peer("10.255.0.2")}}},
		{name: "ENI moved to n1: n1 serves it, no remote entry for it", self: "n1", place: "n1",
			want: map[string]map[string]string{"vpc-a": {"192.168.0.12": m("10.255.0.2"), "169.254.0.2": m("10.255.0.2")},
				"vpc-p": {"10.0.1.5": m("10.255.0.3"), "169.254.0.3": m("10.255.0.3")}},
			peers: map[string][]netdrv.Peer{"vpc-a": {peer("10.255.0.2")}, "vpc-p": {peer("10.255.0.3")}}},
		{name: "a node without underlay gets no overlay", self: "solo", place: "solo", want: map[string]map[string]string{}},
		{name: "unregistered node gets nothing", self: "nx", want: map[string]map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Compute(world(tc.place), tc.self, "solo")
			have := map[string]map[string]string{}
			for vpc, c := range got {
				if c.VNI != map[string]int{"vpc-a": 4096, "vpc-b": 4097, "vpc-p": 4098}[vpc] {
					t.Errorf("%s: VNI %d", vpc, c.VNI)
				}
				have[vpc] = map[string]string{}
				for a, mac := range c.Entries.Remote {
					have[vpc][a.String()] = mac.String()
				}
				if !reflect.DeepEqual(c.Entries.Peers, tc.peers[vpc]) {
					t.Errorf("%s: peers %v, want %v", vpc, c.Entries.Peers, tc.peers[vpc])
				}
			}
			if !reflect.DeepEqual(have, tc.want) {
				t.Errorf("remote entries\n got %v\nwant %v", have, tc.want)
			}
		})
	}
}

// TestComputeIsolation: two VPCs with the same address never share an
// entry, and a VPC without a VNI (from before nodes) joins no overlay.
func TestComputeIsolation(t *testing.T) {
	st := world("")
	st.Hosts["i-6"] = &model.Host{HostID: "i-6", VpcID: "vpc-b", IP: ap("192.168.0.11"), NodeName: "n1"}
	st.Hosts["i-7"] = &model.Host{HostID: "i-7", VpcID: "vpc-old", IP: ap("10.9.0.6"), NodeName: "n1"}
	got := Compute(st, "n1", "solo")
	if _, ok := got["vpc-old"]; ok {
		t.Error("a VPC without VNI got an overlay")
	}
	a, b := got["vpc-a"].Entries.Remote, got["vpc-b"].Entries.Remote
	if mac := a[ap("192.168.0.12")]; mac.String() != netdrv.VTEPMAC(ap("10.255.0.2")).String() {
		t.Errorf("VPC A's .12 -> %v, want n2", mac)
	}
	if mac := b[ap("192.168.0.12")]; mac.String() != netdrv.VTEPMAC(ap("10.255.0.3")).String() {
		t.Errorf("VPC B's .12 -> %v, want n3", mac)
	}
	if _, ok := b[ap("169.254.0.2")]; ok {
		t.Error("VPC B routes to n2, which holds nothing of it")
	}
}

// TestComputeNATSnat: the SNAT address of a kernel NAT endpoint zone is an
// address of the provider VPC on the node serving the zone's ENI: the
// backend's node routes it there, the serving node has no remote entry for
// it (its knat pair routes it), and a proxy service's SNAT is not routed.
func TestComputeNATSnat(t *testing.T) {
	snat := ap("100.127.128.9")
	n2, n1 := netdrv.VTEPMAC(ap("10.255.0.2")).String(), netdrv.VTEPMAC(ap("10.255.0.1")).String()
	for _, tc := range []struct {
		name, forwarding, place, self string
		provHost                      string // a node with a host of vpc-p besides n3
		want                          string // MAC the SNAT address routes to in vpc-p; "" = no entry
	}{
		{name: "nat, ENI on n2: the backend's node routes it to n2", forwarding: model.ForwardNAT, place: "n2", self: "n3", want: n2},
		{name: "nat, ENI moved to n1: routed to n1", forwarding: model.ForwardNAT, place: "n1", self: "n3", want: n1},
		{name: "nat, the serving node: no entry", forwarding: model.ForwardNAT, place: "n2", self: "n2"},
		{name: "nat, the old node (still holding the provider VPC) routes it to the new one", forwarding: model.ForwardNAT, place: "n1", self: "n2", provHost: "n2", want: n1},
		{name: "auto without proxy features is nat", forwarding: model.ForwardAuto, place: "n2", self: "n3", want: n2},
		{name: "proxy: not routed", forwarding: model.ForwardProxy, place: "n2", self: "n3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := world(tc.place)
			st.Services["svc"].Forwarding = tc.forwarding
			st.Endpoints["ep"].Zones[0].SnatIP = snat
			if tc.provHost != "" {
				st.Hosts["i-9"] = &model.Host{HostID: "i-9", VpcID: "vpc-p", IP: ap("10.0.1.9"), NodeName: tc.provHost}
			}
			got := ""
			if mac, ok := Compute(st, tc.self, "solo")["vpc-p"].Entries.Remote[snat]; ok {
				got = mac.String()
			}
			if got != tc.want {
				t.Errorf("SNAT %v in vpc-p on %s -> %q, want %q", snat, tc.self, got, tc.want)
			}
		})
	}
}

// TestComputeIPv6: a dual-stack VPC's copy carries its hosts' IPv6
// addresses and the peers' IPv6 overlay addresses (IPv6 set); a second
// VPC with the same /56 routes its own addresses to its own nodes; an
// IPv4-only VPC carries no IPv6 address, even one a record holds.
func TestComputeIPv6(t *testing.T) {
	p56 := netip.MustParsePrefix("fd12:3456:789a::/56")
	dual := func() *store.State {
		st := world("n2")
		st.VPCs["vpc-a"].Ipv6CidrBlock = p56
		st.VPCs["vpc-b"].Ipv6CidrBlock = p56
		st.Hosts["i-1"].Ipv6Address = ap("fd12:3456:789a::11")
		st.Endpoints["ep"].Zones[0].Ipv6Address = ap("fd12:3456:789a::50") // the zone's IPv6 ENI, placed on n2 with the IPv4 one
		st.Hosts["i-2"].Ipv6Address = ap("fd12:3456:789a::12")
		st.Hosts["i-3"].Ipv6Address = ap("fd12:3456:789a::12")                               // VPC B on n3, the same address
		st.Hosts["i-4"].Ipv6Address = ap("fd12:3456:789a::5")                                // VPC P is IPv4-only: a stray record
		st.Hosts["i-6"] = &model.Host{HostID: "i-6", VpcID: "vpc-b", IP: ap("192.168.0.11"), // VPC B on n1
			Ipv6Address: ap("fd12:3456:789a::11"), NodeName: "n1"}
		return st
	}
	m := func(u string) string { return netdrv.VTEPMAC(ap(u)).String() }
	for _, tc := range []struct {
		name, self string
		want       map[string]map[string]string // vpc -> remote addr -> peer MAC
		ipv6       map[string]bool
	}{
		{name: "n1: VPC A to n2, VPC B to n3", self: "n1",
			want: map[string]map[string]string{
				"vpc-a": {"192.168.0.12": m("10.255.0.2"), "192.168.0.50": m("10.255.0.2"), "169.254.0.2": m("10.255.0.2"),
					"fd12:3456:789a::12": m("10.255.0.2"), "fd12:3456:789a::50": m("10.255.0.2"), "100::2": m("10.255.0.2")},
				"vpc-b": {"192.168.0.12": m("10.255.0.3"), "169.254.0.3": m("10.255.0.3"),
					"fd12:3456:789a::12": m("10.255.0.3"), "100::3": m("10.255.0.3")}},
			ipv6: map[string]bool{"vpc-a": true, "vpc-b": true}},
		{name: "n3: VPC B to n1; IPv4-only provider copy without IPv6", self: "n3",
			want: map[string]map[string]string{
				"vpc-b": {"192.168.0.11": m("10.255.0.1"), "169.254.0.1": m("10.255.0.1"),
					"fd12:3456:789a::11": m("10.255.0.1"), "100::1": m("10.255.0.1")},
				"vpc-p": {"169.254.0.2": m("10.255.0.2")}},
			ipv6: map[string]bool{"vpc-b": true, "vpc-p": false}},
		{name: "n2: provider copy routes the backend's IPv4 only", self: "n2",
			want: map[string]map[string]string{
				"vpc-a": {"192.168.0.11": m("10.255.0.1"), "169.254.0.1": m("10.255.0.1"),
					"fd12:3456:789a::11": m("10.255.0.1"), "100::1": m("10.255.0.1")},
				"vpc-p": {"10.0.1.5": m("10.255.0.3"), "169.254.0.3": m("10.255.0.3")}},
			ipv6: map[string]bool{"vpc-a": true, "vpc-p": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Compute(dual(), tc.self, "solo")
			have := map[string]map[string]string{}
			for vpc, c := range got {
				have[vpc] = map[string]string{}
				for a, mac := range c.Entries.Remote {
					have[vpc][a.String()] = mac.String()
				}
				if c.Entries.IPv6 != tc.ipv6[vpc] {
					t.Errorf("%s: IPv6 %v, want %v", vpc, c.Entries.IPv6, tc.ipv6[vpc])
				}
			}
			if !reflect.DeepEqual(have, tc.want) {
				t.Errorf("remote entries\n got %v\nwant %v", have, tc.want)
			}
		})
	}
}
