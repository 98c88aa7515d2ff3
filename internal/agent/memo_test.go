package agent

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// TestComputeMemo: the agent's rounds reuse the last round's listener
// specs of endpoints whose records did not change (computeScope with the
// agent's specMemo); after each kind of change, the memoized compute must
// equal a fresh one: a stale spec (an old security group's rules, an old
// service's ports or backends) would leave a listener or kernel flow as it
// was. It also checks that an unchanged endpoint's spec is reused (the
// point of the memo), also when its security group's record was rewritten
// with the same content, and that a changed one is not.
func TestComputeMemo(t *testing.T) {
	const zone, acct = "z-h", "2000000000000002"
	svc := &model.EndpointService{ServiceID: "svc-1", AccountID: acct, VpcID: "vpc-p", Ports: []int{80}, UDPPorts: []int{53},
		Resources: []model.Backend{{ZoneID: zone, IP: netip.MustParseAddr("10.9.0.1"), Port: 8080}}}
	sg := &model.SecurityGroup{SecurityGroupID: "sg-1", Rules: []model.SecurityGroupRule{{SourceCidr: "10.0.0.0/8", PortRange: "1/65535", Policy: "accept", Priority: 1}}}
	s := &store.State{
		VPCs: map[string]*model.VPC{"vpc-c": {VpcID: "vpc-c"}, "vpc-p": {VpcID: "vpc-p"}},
		VSwitches: map[string]*model.VSwitch{"vsw-c": {VSwitchID: "vsw-c", VpcID: "vpc-c", ZoneID: zone,
			CidrBlock: netip.MustParsePrefix("10.0.0.0/24")}},
		Services:  map[string]*model.EndpointService{"svc-1": svc},
		SGs:       map[string]*model.SecurityGroup{"sg-1": sg},
		Endpoints: map[string]*model.Endpoint{},
	}
	newEP := func(i int) *model.Endpoint {
		return &model.Endpoint{EndpointID: fmt.Sprintf("ep-%d", i), AccountID: acct, ServiceID: "svc-1", VpcID: "vpc-c",
			ConnectionStatus: model.ConnConnected, SecurityGroupIDs: []string{"sg-1"},
			Zones: []model.EndpointZone{{ZoneID: zone, VSwitchID: "vsw-c", IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)})}}}
	}
	for i := range 5 {
		ep := newEP(i)
		s.Endpoints[ep.EndpointID] = ep
	}
	memo := newSpecMemo()
	round := func(name string) *desired {
		t.Helper()
		got, want := computeScope(zoneScope(zone), s, memo), compute(zone, s)
		if !reflect.DeepEqual(got.listeners, want.listeners) || !reflect.DeepEqual(got.udp, want.udp) {
			t.Fatalf("%s: the memoized compute differs from a fresh one:\n%v\nwant\n%v", name, got.listeners, want.listeners)
		}
		return got
	}
	key := func(i int) listenerKey { return listenerKey{EndpointID: fmt.Sprintf("ep-%d", i), Port: 80} }
	first := round("first round")
	e0 := memo.cur["ep-0"]
	second := round("same records")
	if memo.cur["ep-0"] != e0 {
		t.Error("an unchanged endpoint's specs were made again")
	}
	if first.listeners[key(0)].version != second.listeners[key(0)].version {
		t.Error("the same records gave another version")
	}
	clone := func(m func(*store.State)) {
		n := *s
		n.Endpoints, n.SGs, n.Services = cloneMap(s.Endpoints), cloneMap(s.SGs), cloneMap(s.Services)
		m(&n)
		s = &n
	}
	// Creating an endpoint rewrites its security groups unchanged (a new
	// record, the same content): the other endpoints' specs stay.
	clone(func(n *store.State) { g := *sg; n.SGs["sg-1"] = &g })
	round("a security group rewritten unchanged")
	if memo.cur["ep-0"] != e0 {
		t.Error("a security group rewritten unchanged made every endpoint's specs again")
	}
	steps := []struct {
		name   string
		change func(*store.State)
		check  func(d *desired) error
	}{
		{"a security group rule changed", func(n *store.State) {
			g := *sg
			g.Rules = []model.SecurityGroupRule{{SourceCidr: "192.168.0.0/16", PortRange: "80/80", Policy: "accept", Priority: 1}}
			n.SGs["sg-1"] = &g
		}, func(d *desired) error {
			if d.listeners[key(1)].rules.Allows(netip.MustParseAddr("10.0.0.1"), 80) {
				return fmt.Errorf("the old rule still allows 10.0.0.1")
			}
			return nil
		}},
		{"the service's backends changed", func(n *store.State) {
			v := *n.Services["svc-1"]
			v.Resources = []model.Backend{{ZoneID: zone, IP: netip.MustParseAddr("10.9.0.2"), Port: 8080}}
			n.Services["svc-1"] = &v
		}, func(d *desired) error {
			if b := d.listeners[key(2)].cfg.Backends; len(b) != 1 || b[0].Addr != netip.MustParseAddrPort("10.9.0.2:8080") {
				return fmt.Errorf("backends %v", b)
			}
			return nil
		}},
		{"one endpoint's bandwidth changed", func(n *store.State) {
			e := *n.Endpoints["ep-3"]
			e.ConnectionBandwidth = 7
			n.Endpoints["ep-3"] = &e
		}, func(d *desired) error {
			if d.listeners[key(3)].cfg.BandwidthMbps != 7 {
				return fmt.Errorf("bandwidth %d", d.listeners[key(3)].cfg.BandwidthMbps)
			}
			return nil
		}},
		{"an endpoint's group went", func(n *store.State) { delete(n.SGs, "sg-1") }, func(d *desired) error {
			if d.listeners[key(4)].rules.Allows(netip.MustParseAddr("192.168.0.1"), 80) {
				return fmt.Errorf("a deleted group still allows")
			}
			return nil
		}},
		{"an endpoint added and one deleted", func(n *store.State) {
			n.Endpoints["ep-9"] = newEP(9)
			delete(n.Endpoints, "ep-1")
		}, func(d *desired) error {
			if _, ok := d.listeners[key(1)]; ok {
				return fmt.Errorf("a deleted endpoint's listener stayed")
			}
			if _, ok := d.listeners[key(9)]; !ok {
				return fmt.Errorf("no listener for the new endpoint")
			}
			return nil
		}},
	}
	for _, st := range steps {
		clone(st.change)
		if err := st.check(round(st.name)); err != nil {
			t.Errorf("%s: %v", st.name, err)
		}
	}
	if _, ok := memo.cur["ep-1"]; ok {
		t.Error("a deleted endpoint's memo is kept")
	}
}

func cloneMap[V any](m map[string]*V) map[string]*V {
	out := make(map[string]*V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// BenchmarkComputeRound: one agent round's compute with 10,000 endpoints
// of one service, after one endpoint changed: fresh (every spec made
// again, as before specMemo), memoized (computeScope with the memo) and
// incremental (the agent's rounds since incremental.go: the changed
// endpoint only).
//
//	go test ./internal/agent -run XXX -bench ComputeRound -benchtime 20x
func BenchmarkComputeRound(b *testing.B) {
	const zone, acct, n = "z-h", "2000000000000002", 10000
	svc := &model.EndpointService{ServiceID: "svc-1", AccountID: acct, VpcID: "vpc-p", Ports: []int{80},
		Resources: []model.Backend{{ZoneID: zone, IP: netip.MustParseAddr("10.9.0.1"), Port: 8080}}}
	sg := &model.SecurityGroup{SecurityGroupID: "sg-1", Rules: []model.SecurityGroupRule{{SourceCidr: "10.0.0.0/8", PortRange: "1/65535", Policy: "accept", Priority: 1}}}
	s := &store.State{
		VPCs:      map[string]*model.VPC{"vpc-c": {VpcID: "vpc-c"}, "vpc-p": {VpcID: "vpc-p"}},
		VSwitches: map[string]*model.VSwitch{},
		Services:  map[string]*model.EndpointService{"svc-1": svc},
		SGs:       map[string]*model.SecurityGroup{"sg-1": sg},
		Endpoints: map[string]*model.Endpoint{},
	}
	for i := range n {
		vsw := fmt.Sprintf("vsw-%d", i/200)
		s.VSwitches[vsw] = &model.VSwitch{VSwitchID: vsw, VpcID: "vpc-c", ZoneID: zone,
			CidrBlock: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i / 200 / 256), byte(i / 200 % 256), 0}), 24)}
		ep := &model.Endpoint{EndpointID: fmt.Sprintf("ep-%05d", i), AccountID: acct, ServiceID: "svc-1", VpcID: "vpc-c",
			ConnectionStatus: model.ConnConnected, SecurityGroupIDs: []string{"sg-1"},
			Zones: []model.EndpointZone{{ZoneID: zone, VSwitchID: vsw, IP: netip.AddrFrom4([4]byte{10, byte(i / 200 / 256), byte(i / 200 % 256), byte(10 + i%200)})}}}
		s.Endpoints[ep.EndpointID] = ep
	}
	change := func(i int) {
		e := *s.Endpoints["ep-00001"]
		e.ConnectionBandwidth = i%7 + 1
		s.Endpoints["ep-00001"] = &e
	}
	b.Run("fresh", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			change(i)
			compute(zone, s)
		}
	})
	b.Run("memoized", func(b *testing.B) {
		memo := newSpecMemo()
		computeScope(zoneScope(zone), s, memo)
		for i := 0; b.Loop(); i++ {
			change(i)
			computeScope(zoneScope(zone), s, memo)
		}
	})
	b.Run("incremental", func(b *testing.B) {
		// s is changed in place: the change is named, as the cache's log does.
		inc := newIncremental(func(_, _ *store.State, _ ...string) []string {
			return []string{store.RecordKey(store.KindEndpoint, "ep-00001")}
		})
		inc.compute(zoneScope(zone), "zone/"+zone, s)
		for i := 0; b.Loop(); i++ {
			change(i)
			next := *s // a new State, as the cache makes one per change
			inc.compute(zoneScope(zone), "zone/"+zone, &next)
		}
	})
}
