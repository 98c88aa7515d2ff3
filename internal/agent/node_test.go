package agent

import (
	"net/netip"
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// TestFencing: a node serves an endpoint zone's ENI (address, listener,
// the provider VPC copy it dials from) only while the placement names it
// under its current lease (docs/design/multinode.md §4.3); its hosts are
// those placed on it, and hosts from before nodes are the default node's.
func TestFencing(t *testing.T) {
	const zone, self, lease = "z-h", "n1", int64(0x77)
	ip := netip.MustParseAddr("10.0.0.5")
	eni := eniKey{VpcID: "vpc-c", VSwitchID: "vsw-c", IP: ip}
	state := func(p *model.ENIPlacement) *store.State {
		s := &store.State{
			VPCs: map[string]*model.VPC{"vpc-c": {VpcID: "vpc-c"}, "vpc-p": {VpcID: "vpc-p"}},
			VSwitches: map[string]*model.VSwitch{
				"vsw-c": {VSwitchID: "vsw-c", VpcID: "vpc-c", ZoneID: zone, CidrBlock: netip.MustParsePrefix("10.0.0.0/24")},
				"vsw-d": {VSwitchID: "vsw-d", VpcID: "vpc-c", ZoneID: zone, CidrBlock: netip.MustParsePrefix("10.0.1.0/24")}},
			Hosts: map[string]*model.Host{
				"i-mine":  {HostID: "i-mine", VpcID: "vpc-c", VSwitchID: "vsw-d", ZoneID: zone, IP: netip.MustParseAddr("10.0.1.7"), NodeName: self},
				"i-other": {HostID: "i-other", VpcID: "vpc-c", VSwitchID: "vsw-d", ZoneID: zone, IP: netip.MustParseAddr("10.0.1.8"), NodeName: "n2"},
				"i-old":   {HostID: "i-old", VpcID: "vpc-c", VSwitchID: "vsw-d", ZoneID: zone, IP: netip.MustParseAddr("10.0.1.9")}},
			Services: map[string]*model.EndpointService{"svc-1": {ServiceID: "svc-1", VpcID: "vpc-p", Ports: []int{80},
				Resources: []model.Backend{{ZoneID: zone, IP: netip.MustParseAddr("10.9.0.1")}}}},
			Endpoints: map[string]*model.Endpoint{"ep-1": {EndpointID: "ep-1", ServiceID: "svc-1", VpcID: "vpc-c",
				ConnectionStatus: model.ConnConnected, Zones: []model.EndpointZone{{ZoneID: zone, VSwitchID: "vsw-c", IP: ip}}}},
			Placements: map[string]*model.ENIPlacement{},
		}
		if p != nil {
			s.Placements["ep-1/"+zone] = p
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		place  *model.ENIPlacement
		lease  int64
		serves bool
	}{
		{"placed on me under my lease", &model.ENIPlacement{Node: self, NodeLease: lease}, lease, true},
		{"placed on me under an old lease", &model.ENIPlacement{Node: self, NodeLease: 0x42}, lease, false},
		{"placed on another node", &model.ENIPlacement{Node: "n2", NodeLease: lease}, lease, false},
		{"placed on no node", &model.ENIPlacement{}, lease, false},
		{"no placement", nil, lease, false},
		{"placed on me but I hold no lease", &model.ENIPlacement{Node: self}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, def := range []string{self, "n2"} {
				d := computeScope(nodeScope(state(tc.place), zone, self, def, tc.lease), state(tc.place), newSpecMemo())
				if d.enis[eni] != tc.serves {
					t.Errorf("ENI served: %v, want %v", d.enis[eni], tc.serves)
				}
				if _, ok := d.listeners[listenerKey{EndpointID: "ep-1", Port: 80}]; ok != tc.serves {
					t.Errorf("listener: %v, want %v", ok, tc.serves)
				}
				if _, ok := d.vpcs["vpc-p"]; ok != tc.serves {
					t.Errorf("provider VPC copy: %v, want %v", ok, tc.serves)
				}
				if _, ok := d.vswitches["vsw-c"]; ok != tc.serves {
					t.Errorf("the ENI's vSwitch bridge: %v, want %v (only for what the node holds)", ok, tc.serves)
				}
				want := map[string]bool{"i-mine": true}
				if def == self {
					want["i-old"] = true
				}
				if len(d.hosts) != len(want) {
					t.Errorf("default node %s: hosts %v, want %v", def, keys(d.hosts), want)
				}
				for id := range d.hosts {
					if !want[id] {
						t.Errorf("default node %s: host %s is not mine", def, id)
					}
				}
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
