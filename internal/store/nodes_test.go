package store

import (
	"context"
	"net/netip"
	"strconv"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/privlink/privlink/internal/model"
)

// TestNodeRecordsInCache: the cache's State holds node registrations,
// liveness records and ENI placements, and skips and counts bad ones per
// kind while keeping the last good value.
func TestNodeRecordsInCache(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := NewCache(s, s.log)
	ch := c.Subscribe()
	go c.Run(ctx)
	<-c.Synced()

	reg, err := s.RegisterNode(ctx, NodeRegistration{Name: "n1", ZoneID: "z", UnderlayAddr: netip.MustParseAddr("10.255.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutRaw(ctx, s.NodeKey("n1"), MustJSON(model.NodeStatus{Name: "n1", LeaseID: 7})); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRaw(ctx, s.ENIPlacementKey("ep-x", "z"), MustJSON(model.ENIPlacement{Node: "n1", NodeLease: 7})); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, ch, func(st *State) bool {
		return st.NodeRegs["n1"] != nil && st.Nodes["n1"] != nil && st.Placement("ep-x", "z") != nil
	})
	if got := c.State().NodeRegs["n1"]; *got != reg || got.OverlayAddr != netip.MustParseAddr("169.254.0.1") {
		t.Errorf("registration in the cache %+v, want %+v", got, reg)
	}

	bad := []struct{ kind, key, value string }{
		{KindNodeReg, s.NodeRegKey("n1"), `{"name":"n1","zoneId":"z","index":0}`},                                                  // index out of range
		{KindNodeReg, s.NodeRegKey("n1"), `{"name":"n1","zoneId":"z","index":2,"overlayAddr":"169.254.0.1"}`},                      // overlay address not the index's
		{KindNode, s.NodeKey("n1"), `{"name":"n/1"}`},                                                                              // name with a slash
		{KindENIPlace, s.ENIPlacementKey("ep-x", "z"), `{"node":"n1","moves":-1}`},                                                 // negative moves
		{KindENIPlace, s.ENIPlacementKey("ep-x", "z"), `not json`},                                                                 // garbage
		{KindNodeReg, s.NodeRegKey("n1"), `{"name":"n1","zoneId":"z","index":1,"overlayAddr":"169.254.0.1","underlayAddr":"::1"}`}, // IPv6 underlay
	}
	want := map[string]float64{}
	for i, tc := range bad {
		if err := s.PutRaw(ctx, tc.key, tc.value); err != nil {
			t.Fatal(err)
		}
		marker := "m" + strconv.Itoa(i)
		putVPC(t, s, marker)
		waitState(t, c, ch, func(st *State) bool { return st.VPCs[vpcID(marker)] != nil })
		want[tc.kind]++
		var m dto.Metric
		_ = s.bad.counter.WithLabelValues(tc.kind).Write(&m)
		if n := m.GetCounter().GetValue(); n != want[tc.kind] {
			t.Errorf("%s: bad %s records counted %v, want %v", tc.value, tc.kind, n, want[tc.kind])
		}
		st := c.State()
		if st.NodeRegs["n1"] == nil || st.Nodes["n1"] == nil || st.Placement("ep-x", "z") == nil || st.NodeRegs["n1"].Index != 1 {
			t.Errorf("%s: the cache lost a last good value", tc.value)
		}
		if !st.Bad(tc.kind, tc.key[len(s.KindPrefix(tc.kind)):]) {
			t.Errorf("%s: not marked bad", tc.value)
		}
	}
}

// TestAllocVNIWraps: past MaxVNI the counter starts again at FirstAutoVNI
// and skips the VNIs still claimed.
func TestAllocVNIWraps(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	alloc := func(vpc string) int {
		t.Helper()
		tx := s.NewTxn()
		n, err := s.AllocVNI(ctx, tx, vpc)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := tx.Commit(ctx); err != nil || !ok {
			t.Fatalf("commit VNI %d: %v, %v", n, ok, err)
		}
		return n
	}
	if n := alloc("vpc-a"); n != model.FirstAutoVNI {
		t.Fatalf("first VNI %d, want %d", n, model.FirstAutoVNI)
	}
	if n := alloc("vpc-b"); n != model.FirstAutoVNI+1 {
		t.Fatalf("second VNI %d", n)
	}
	if err := s.PutRaw(ctx, s.VNINextKey(), strconv.Itoa(model.MaxVNI)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{model.MaxVNI, model.FirstAutoVNI + 2} {
		if n := alloc("vpc-c"); n != want {
			t.Errorf("VNI %d, want %d (wrap around, skipping the claimed ones)", n, want)
		}
	}
	// A stale read loses even when its VNI was freed meanwhile (taken by
	// another VPC that was deleted since): the counter moved, so the
	// commit fails and the VNI is not reused.
	tx := s.NewTxn()
	stale, err := s.AllocVNI(ctx, tx, "vpc-d")
	if err != nil {
		t.Fatal(err)
	}
	if n := alloc("vpc-e"); n != stale {
		t.Fatalf("VNI %d, want %d", n, stale)
	}
	if _, err := s.cli.Delete(ctx, s.VNIKey(stale)); err != nil {
		t.Fatal(err)
	}
	if ok, err := tx.Commit(ctx); err != nil || ok {
		t.Errorf("commit after the counter moved: %v, %v; want a failed compare", ok, err)
	}
}
