package invariant

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
)

const (
	owner    = "1000000000000001"
	consumer = "1000000000000002"
	stranger = "1000000000000003"
)

var (
	eniIP   = netip.MustParseAddr("10.0.1.5")
	hostIP  = netip.MustParseAddr("10.0.1.4")
	backend = model.Backend{ZoneID: "h", IP: netip.MustParseAddr("10.1.1.4"), Port: 6001}
)

// consistent is a snapshot in which every invariant holds: a provider's
// VPC and service, a consumer's VPC, vSwitch, group, host and a Connected
// endpoint in zone h.
func consistent() *Snapshot {
	st := &store.State{
		VPCs: map[string]*model.VPC{
			"vpc-p": {VpcID: "vpc-p", AccountID: owner},
			"vpc-c": {VpcID: "vpc-c", AccountID: consumer},
		},
		VSwitches: map[string]*model.VSwitch{
			"vsw-c": {VSwitchID: "vsw-c", VpcID: "vpc-c", ZoneID: "h"},
		},
		SGs: map[string]*model.SecurityGroup{
			"sg-c": {SecurityGroupID: "sg-c", VpcID: "vpc-c", Rules: []model.SecurityGroupRule{
				{Protocol: "tcp", PortRange: "6001/6001", SourceCidr: "10.0.0.0/16", Policy: "accept", Priority: 1}}},
		},
		Hosts: map[string]*model.Host{
			"i-c": {HostID: "i-c", VpcID: "vpc-c", VSwitchID: "vsw-c", ZoneID: "h", IP: hostIP},
		},
		Services: map[string]*model.EndpointService{
			"epsrv-p": {ServiceID: "epsrv-p", AccountID: owner, VpcID: "vpc-p", Ports: []int{6001}, AllowedAccounts: []string{consumer},
				Resources: []model.Backend{backend}, LoadBalancerIDs: []string{"nlb-p"}},
		},
		Endpoints: map[string]*model.Endpoint{
			"ep-c": {EndpointID: "ep-c", AccountID: consumer, ServiceID: "epsrv-p", VpcID: "vpc-c", SecurityGroupIDs: []string{"sg-c"},
				ConnectionStatus: model.ConnConnected, Zones: []model.EndpointZone{{ZoneID: "h", VSwitchID: "vsw-c", IP: eniIP, EniID: "eni-c"}}},
		},
	}
	return &Snapshot{State: st, Accounts: map[string]bool{owner: true, consumer: true, stranger: true},
		IPAM: map[string]string{"vsw-c/10.0.1.4": "i-c", "vsw-c/10.0.1.5": "eni-c"},
		LBs:  map[string]*model.LoadBalancer{"nlb-p": {LoadBalancerID: "nlb-p", AccountID: owner, VpcID: "vpc-p", Ports: []int{6001}, Backends: []model.Backend{backend}}}}
}

func TestCheck(t *testing.T) {
	if bad := consistent().Check(); len(bad) > 0 {
		t.Fatalf("violations in a consistent snapshot: %v", bad)
	}
	cases := []struct {
		name   string
		mutate func(s *Snapshot)
		want   string
	}{
		{"Connected without admission", func(s *Snapshot) { s.State.Services["epsrv-p"].AllowedAccounts = nil }, "does not admit it"},
		{"Connected to a gone service", func(s *Snapshot) { delete(s.State.Services, "epsrv-p") }, "does not admit it"},
		{"address not allocated", func(s *Snapshot) { delete(s.IPAM, "vsw-c/10.0.1.4") }, "which is not allocated"},
		{"address allocated to another", func(s *Snapshot) { s.IPAM["vsw-c/10.0.1.5"] = "i-c" }, "which is allocated to i-c"},
		{"address held twice", func(s *Snapshot) { s.State.Hosts["i-c"].IP = eniIP }, "held by both"},
		{"allocation without a holder", func(s *Snapshot) { s.IPAM["vsw-c/10.0.1.9"] = "i-gone" }, "which does not hold it"},
		{"vSwitch without its VPC", func(s *Snapshot) { s.State.VSwitches["vsw-x"] = &model.VSwitch{VSwitchID: "vsw-x", VpcID: "vpc-gone"} }, "its vpc vpc-gone is gone"},
		{"host without its vSwitch", func(s *Snapshot) { s.State.Hosts["i-c"].VSwitchID = "vsw-gone" }, "its vSwitch vsw-gone is gone"},
		{"endpoint without its group", func(s *Snapshot) { s.State.Endpoints["ep-c"].SecurityGroupIDs = []string{"sg-gone"} }, "its security group sg-gone is gone"},
		{"VPC without its account", func(s *Snapshot) { delete(s.Accounts, owner) }, "its account " + owner + " is gone"},
		{"service without its load balancer", func(s *Snapshot) { delete(s.LBs, "nlb-p") }, "its load balancer nlb-p is gone"},
		{"load balancer without its VPC", func(s *Snapshot) { s.LBs["nlb-p"].VpcID = "vpc-gone" }, "load balancer nlb-p: its vpc vpc-gone is gone"},
		{"load balancer of another account", func(s *Snapshot) { s.LBs["nlb-p"].AccountID = stranger }, "is of account " + stranger},
		{"service ports not its load balancer's", func(s *Snapshot) { s.State.Services["epsrv-p"].Ports = []int{6002} }, "are not those of its load balancers"},
		{"service backends not its load balancer's", func(s *Snapshot) { s.State.Services["epsrv-p"].Resources = nil }, "are not those of its load balancers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := consistent()
			tc.mutate(s)
			bad := s.Check()
			if !strings.Contains(strings.Join(bad, "\n"), tc.want) {
				t.Errorf("violations %q lack %q", bad, tc.want)
			}
		})
	}
	// A ServiceDeleted endpoint keeps its service's ID: not a violation.
	s := consistent()
	s.State.Endpoints["ep-c"].ConnectionStatus = model.ConnServiceDeleted
	delete(s.State.Services, "epsrv-p")
	if bad := s.Check(); len(bad) > 0 {
		t.Errorf("a ServiceDeleted endpoint reported: %v", bad)
	}
}

func TestWantDiff(t *testing.T) {
	s := consistent()
	w := WantOf(s.State, []string{"h"})
	eni := netdrv.ENIRef{VpcID: "vpc-c", VSwitchID: "vsw-c", IP: eniIP}
	have := netdrv.Inventory{VPCs: []string{"vpc-c", "vpc-p"}, Hosts: []string{"i-c"},
		VSwitches: []netdrv.VSwitchRef{{VpcID: "vpc-c", VSwitchID: "vsw-c"}}, ENIs: []netdrv.ENIRef{eni}}
	if bad := w.Diff(have); len(bad) > 0 {
		t.Fatalf("diff of a matching machine: %v", bad)
	}
	if len(w.Serving) != 1 || w.Serving[0].Addr != netip.AddrPortFrom(eniIP, 6001) || len(w.Refusing) != 0 {
		t.Errorf("serving %v refusing %v", w.Serving, w.Refusing)
	}
	// Zone i's agents are not here: nothing of zone h is wanted.
	if wi := WantOf(s.State, []string{"i"}); len(wi.VPCs)+len(wi.Hosts)+len(wi.ENIs)+len(wi.Serving) > 0 {
		t.Errorf("want for zone i: %+v", wi)
	}
	cases := []struct {
		name string
		have func(inv *netdrv.Inventory)
		want string
	}{
		{"ENI without a record", func(inv *netdrv.Inventory) {
			inv.ENIs = append(inv.ENIs, netdrv.ENIRef{VpcID: "vpc-c", VSwitchID: "vsw-c", IP: netip.MustParseAddr("10.0.1.77")})
		}, "10.0.1.77 on vSwitch vsw-c has no endpoint record"},
		{"missing ENI", func(inv *netdrv.Inventory) { inv.ENIs = nil }, "ENI 10.0.1.5: not on vSwitch vsw-c"},
		{"namespace of a deleted VPC", func(inv *netdrv.Inventory) { inv.VPCs = append(inv.VPCs, "vpc-gone") }, "vpc vpc-gone, which the store does not have"},
		{"missing VPC", func(inv *netdrv.Inventory) { inv.VPCs = []string{"vpc-p"} }, "vpc vpc-c: no namespace"},
		{"host left over", func(inv *netdrv.Inventory) { inv.Hosts = append(inv.Hosts, "i-gone") }, "host i-gone, which the store does not have"},
		{"missing bridge", func(inv *netdrv.Inventory) { inv.VSwitches = nil }, "vSwitch vsw-c: no bridge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := have
			inv.VPCs = append([]string(nil), have.VPCs...)
			inv.Hosts = append([]string(nil), have.Hosts...)
			inv.ENIs = append([]netdrv.ENIRef(nil), have.ENIs...)
			inv.VSwitches = append([]netdrv.VSwitchRef(nil), have.VSwitches...)
			tc.have(&inv)
			if bad := w.Diff(inv); !strings.Contains(strings.Join(bad, "\n"), tc.want) {
				t.Errorf("diff %q lacks %q", bad, tc.want)
			}
		})
	}
	// Not admitted, not Connected or dropped by the group: refusing.
	for name, f := range map[string]func(s *Snapshot){
		"removed from the allow-list": func(s *Snapshot) { s.State.Services["epsrv-p"].AllowedAccounts = []string{stranger} },
		"rejected":                    func(s *Snapshot) { s.State.Endpoints["ep-c"].ConnectionStatus = model.ConnRejected },
		"group without the rule":      func(s *Snapshot) { s.State.SGs["sg-c"].Rules = nil },
	} {
		s := consistent()
		f(s)
		if w := WantOf(s.State, []string{"h"}); len(w.Serving) != 0 || len(w.Refusing) != 1 {
			t.Errorf("%s: serving %v refusing %v", name, w.Serving, w.Refusing)
		}
	}
}
