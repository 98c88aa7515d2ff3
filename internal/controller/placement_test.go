package controller_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/controller"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

var bg = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// region is a server (loopback data plane, no zone agents: the test's
// nodes play them) with the canonical scenario but no endpoint yet;
// addEndpoints creates endpoints of its service in the consumer VPC, each
// in both zones.
type region struct {
	e   *testenv.Env
	s   *testenv.Scenario
	eps []string
	h   string // zone with several nodes
	i   string // zone with one node
}

func newRegion(t *testing.T) *region {
	t.Helper()
	e := testenv.Start(t, testenv.Options{Network: netdrv.Loopback, AgentZones: []string{}})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, NoEndpoint: true})
	return &region{e: e, s: s, h: s.ConsumerVSwitches[0].ZoneID, i: s.ConsumerVSwitches[1].ZoneID}
}

// addEndpoints creates n endpoints, one at a time.
func (r *region) addEndpoints(t *testing.T, n int) {
	t.Helper()
	for range n {
		r.eps = append(r.eps, r.createEndpoint(t))
	}
}

func (r *region) createEndpoint(t *testing.T) string {
	t.Helper()
	id, err := r.tryCreateEndpoint()
	must(t, err)
	return id
}

func (r *region) tryCreateEndpoint() (string, error) {
	var zones []api.EndpointZoneRequest
	for _, v := range r.s.ConsumerVSwitches {
		zones = append(zones, api.EndpointZoneRequest{ZoneID: v.ZoneID, VSwitchID: v.VSwitchID})
	}
	ep, err := r.s.Consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: r.s.Service.ServiceID, VpcID: r.s.ConsumerVPC.VpcID,
		SecurityGroupIDs: []string{r.s.SG.SecurityGroupID}, Zones: zones})
	return ep.EndpointID, err
}

// placements reads every ENI placement afresh (with its epoch).
func (r *region) placements(t *testing.T) map[string]*model.ENIPlacement {
	t.Helper()
	st, err := r.e.Store.ReadState(bg, store.KindENIPlace)
	must(t, err)
	return st.Placements
}

// byNode counts zone's placements per node.
func (r *region) byNode(t *testing.T, zone string) map[string]int {
	out := map[string]int{}
	for id, p := range r.placements(t) {
		if _, z, _ := store.SplitPlacementID(id); z == zone {
			out[p.Node]++
		}
	}
	return out
}

// zoneStatus is what the API says of an endpoint zone.
func (r *region) zoneStatus(t *testing.T, epID, zone string) string {
	t.Helper()
	ep, err := r.s.Consumer.GetEndpoint(bg, epID)
	must(t, err)
	for _, z := range ep.Zones {
		if z.ZoneID == zone {
			return z.ZoneStatus
		}
	}
	t.Fatalf("endpoint %s has no zone %s", epID, zone)
	return ""
}

// allConnected waits until every endpoint's zones read Connected in the API.
func (r *region) allConnected(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, "every endpoint zone Connected", func() error {
		for _, ep := range r.eps {
			for _, z := range []string{r.h, r.i} {
				if got := r.zoneStatus(t, ep, z); got != model.ZoneConnected {
					return fmt.Errorf("%s in %s: %s", ep, z, got)
				}
			}
		}
		return nil
	})
}

func wantCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Fatalf("%s: placements per node %v, want %v", what, got, want)
	}
}

// TestPlacementSpread: endpoint zones are spread over the ready nodes of
// their zone, least loaded first; every placement's node reports and the
// API shows the zones Connected; endpoints created later keep the spread,
// and a deleted endpoint's placements go with it.
func TestPlacementSpread(t *testing.T) {
	r := newRegion(t)
	for _, n := range []string{"n1", "n2", "n3"} {
		testenv.StartTestNode(t, r.e, n, r.h, testenv.TestNodeOptions{})
	}
	testenv.StartTestNode(t, r.e, "n4", r.i, testenv.TestNodeOptions{})
	r.addEndpoints(t, 5)
	testenv.Eventually(t, "placed", func() error {
		if got := len(r.placements(t)); got != 2*len(r.eps) {
			return fmt.Errorf("%d placements, want %d", got, 2*len(r.eps))
		}
		return nil
	})
	// 5 zones over 3 nodes: 2, 2, 1 (the first nodes by name win ties).
	wantCounts(t, "zone h", r.byNode(t, r.h), map[string]int{"n1": 2, "n2": 2, "n3": 1})
	wantCounts(t, "zone i", r.byNode(t, r.i), map[string]int{"n4": 5})
	r.allConnected(t)

	// The next endpoint goes to the least loaded node, n3.
	r.eps = append(r.eps, r.createEndpoint(t))
	testenv.Eventually(t, "new endpoint placed", func() error {
		if p := r.placements(t)[r.eps[5]+"/"+r.h]; p == nil || p.Node != "n3" {
			return fmt.Errorf("placement %+v, want on n3", p)
		}
		return nil
	})
	r.allConnected(t)
	for id, p := range r.placements(t) {
		if p.Moves != 0 {
			t.Errorf("%s moved %d times with every node ready", id, p.Moves)
		}
	}

	// Removing a zone from an endpoint removes that zone's placement;
	// deleting an endpoint removes all of its placements.
	_, err := r.s.Consumer.RemoveEndpointZone(bg, r.eps[1], r.i)
	must(t, err)
	_, err = r.s.Consumer.DeleteEndpoint(bg, r.eps[0])
	must(t, err)
	testenv.Eventually(t, "placements of the removed zone and the deleted endpoint removed", func() error {
		ps := r.placements(t)
		for id := range ps {
			if ep, _, _ := store.SplitPlacementID(id); ep == r.eps[0] {
				return fmt.Errorf("%s still placed", id)
			}
		}
		if ps[r.eps[1]+"/"+r.i] != nil {
			return fmt.Errorf("removed zone %s of %s still placed", r.i, r.eps[1])
		}
		if ps[r.eps[1]+"/"+r.h] == nil {
			return fmt.Errorf("the remaining zone of %s lost its placement", r.eps[1])
		}
		return nil
	})
}

// TestPlacementOnNodeWithoutUnderlay: a region whose one node has no
// underlay address (a `privlink server --node` on one machine) has its
// node's zone placed on it, like any node; the other zone, without node,
// is not placed.
func TestPlacementOnNodeWithoutUnderlay(t *testing.T) {
	r := newRegion(t)
	testenv.StartTestNode(t, r.e, "solo", r.h, testenv.TestNodeOptions{NoUnderlay: true})
	r.addEndpoints(t, 2)
	testenv.Eventually(t, "placed on the node", func() error {
		for _, ep := range r.eps {
			if p := r.placements(t)[ep+"/"+r.h]; p == nil || p.Node != "solo" {
				return fmt.Errorf("%s: placement %+v", ep, p)
			}
			if got := r.zoneStatus(t, ep, r.h); got != model.ZoneConnected {
				return fmt.Errorf("%s: zone h %s", ep, got)
			}
		}
		return nil
	})
	if got := len(r.placements(t)); got != len(r.eps) {
		t.Errorf("%d placements, want zone h's %d", got, len(r.eps))
	}
}

// TestPlacementMovesOnLeaseLoss: a node that stops keeping its lease
// alive (a dead process) loses its placements to the other ready nodes of
// its zone after the TTL (target TTL + 1 s), is stamped NotReady, and does not get them
// back when it returns; a zone whose only node is lost keeps naming it and
// re-confirms it under its new lease when it returns.
func TestPlacementMovesOnLeaseLoss(t *testing.T) {
	r := newRegion(t)
	const ttl = 3 * time.Second
	nodes := map[string]*testenv.TestNode{}
	for _, n := range []string{"n1", "n2", "n3"} {
		nodes[n] = testenv.StartTestNode(t, r.e, n, r.h, testenv.TestNodeOptions{TTL: ttl})
	}
	nodes["n4"] = testenv.StartTestNode(t, r.e, "n4", r.i, testenv.TestNodeOptions{TTL: ttl})
	r.addEndpoints(t, 4)
	testenv.Eventually(t, "placed", func() error {
		if got := len(r.placements(t)); got != 2*len(r.eps) {
			return fmt.Errorf("%d placements", got)
		}
		return nil
	})
	wantCounts(t, "before", r.byNode(t, r.h), map[string]int{"n1": 2, "n2": 1, "n3": 1})
	r.allConnected(t)
	before := r.placements(t)

	// n1 dies (its client closes: no keepalive from then on): its lease
	// expires within the TTL, its two ENIs move.
	nodes["n1"].Kill()
	killed := time.Now()
	// The design's target is TTL + 1 s (measured 2.2-3.3 s, logged below);
	// the bound leaves room for a loaded CI machine, where etcd's own
	// expiry check runs late: it catches a controller that does not move.
	deadline := killed.Add(ttl + 5*time.Second)
	for {
		if r.byNode(t, r.h)["n1"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1's placements not moved %s after it died: %v", time.Since(killed), r.byNode(t, r.h))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("placements moved %s after the node died (lease TTL %s)", time.Since(killed).Round(time.Millisecond), ttl)
	wantCounts(t, "after n1 died", r.byNode(t, r.h), map[string]int{"n2": 2, "n3": 2})
	after := r.placements(t)
	for id, p := range before {
		if p.Node != "n1" {
			if after[id].Epoch != p.Epoch {
				t.Errorf("%s on %s changed epoch although its node stayed ready", id, p.Node)
			}
			continue
		}
		if q := after[id]; q.Moves != 1 || q.Epoch <= p.Epoch || q.NodeLease != nodes[q.Node].LeaseID() {
			t.Errorf("moved %s: %+v (was %+v)", id, q, p)
		}
	}
	r.allConnected(t) // the new owners report for the new epochs
	testenv.Eventually(t, "n1 stamped NotReady", func() error {
		reg, _, err := store.Get[model.NodeReg](bg, r.e.Store, r.e.Store.NodeRegKey("n1"))
		if err == nil && reg.NotReadySince == "" {
			err = fmt.Errorf("no notReadySince")
		}
		return err
	})

	// n1 returns: it gets nothing back, and its stamp is cleared.
	nodes["n1"] = testenv.StartTestNode(t, r.e, "n1", r.h, testenv.TestNodeOptions{TTL: ttl})
	testenv.Eventually(t, "n1's stamp cleared", func() error {
		reg, _, err := store.Get[model.NodeReg](bg, r.e.Store, r.e.Store.NodeRegKey("n1"))
		if err == nil && reg.NotReadySince != "" {
			err = fmt.Errorf("notReadySince %s", reg.NotReadySince)
		}
		return err
	})
	wantCounts(t, "after n1 returned", r.byNode(t, r.h), map[string]int{"n2": 2, "n3": 2})

	// Zone i's only node dies: the placements stay on it (nowhere to
	// go), the zone is Unavailable; it returns under a new lease and the
	// controller re-confirms it there.
	oldLease := nodes["n4"].LeaseID()
	ep0 := r.placements(t)[r.eps[0]+"/"+r.i]
	nodes["n4"].Revoke(t)
	testenv.Eventually(t, "zone i unavailable", func() error {
		if got := r.zoneStatus(t, r.eps[0], r.i); got != model.ZoneUnavailable {
			return fmt.Errorf("zone i %s", got)
		}
		return nil
	})
	if p := r.placements(t)[r.eps[0]+"/"+r.i]; p.Node != "n4" || p.Epoch != ep0.Epoch {
		t.Fatalf("zone i's placement changed with no other node: %+v", p)
	}
	nodes["n4"] = testenv.StartTestNode(t, r.e, "n4", r.i, testenv.TestNodeOptions{TTL: ttl})
	r.allConnected(t)
	if p := r.placements(t)[r.eps[0]+"/"+r.i]; p.Node != "n4" || p.NodeLease == oldLease || p.NodeLease != nodes["n4"].LeaseID() || p.Moves != 0 {
		t.Fatalf("zone i's placement after n4 returned: %+v (old lease %x)", p, oldLease)
	}
}

// writes counts a controller's placement writes (its "ENI placement ..." log records).
type writes struct {
	slog.Handler
	n *atomic.Int64
}

func (w writes) Enabled(context.Context, slog.Level) bool { return true }

func (w writes) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "ENI placement ") {
		w.n.Add(1)
	}
	return nil
}

// TestPlacementRace: three controllers (the server's and two more, each
// on its own etcd client and cache) run at once while nodes register and
// endpoints are created in a burst: the election lets one act (the
// server's, which campaigned first: the others write nothing), so every
// endpoint zone gets one placement, none is moved or rewritten, and the
// spread is as one controller makes it.
func TestPlacementRace(t *testing.T) {
	r := newRegion(t)
	ctx, cancel := context.WithCancel(bg)
	var stops []chan struct{}
	var extra atomic.Int64
	for i := range 2 {
		st, err := store.Open(bg, store.Config{Endpoints: r.e.Store.Endpoints(), Credentials: r.e.Store.Credentials(), Logger: slog.New(slog.DiscardHandler)})
		must(t, err)
		cache := store.NewCache(st, slog.New(slog.DiscardHandler))
		done := make(chan struct{})
		stops = append(stops, done)
		go cache.Run(ctx)
		go func() {
			defer close(done)
			controller.NewPlacement(st, cache, slog.New(writes{slog.DiscardHandler, &extra}), fmt.Sprintf("extra-%d", i)).Run(ctx)
		}()
		t.Cleanup(st.Close)
	}
	t.Cleanup(func() {
		cancel()
		for _, d := range stops {
			<-d
		}
	})
	for _, n := range []string{"n1", "n2", "n3"} {
		testenv.StartTestNode(t, r.e, n, r.h, testenv.TestNodeOptions{})
	}
	testenv.StartTestNode(t, r.e, "n4", r.i, testenv.TestNodeOptions{})
	var wg sync.WaitGroup
	ids, errs := make([]string, 6), make([]error, 6)
	for i := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); ids[i], errs[i] = r.tryCreateEndpoint() }()
	}
	wg.Wait()
	must(t, errors.Join(errs...))
	r.eps = append(r.eps, ids...)
	testenv.Eventually(t, "placed", func() error {
		if got := len(r.placements(t)); got != 2*len(r.eps) {
			return fmt.Errorf("%d placements, want %d", got, 2*len(r.eps))
		}
		return nil
	})
	r.allConnected(t)
	first := r.placements(t)
	time.Sleep(time.Second) // a racing controller would move or rewrite something now
	last := r.placements(t)
	for id, p := range last {
		if p.Moves != 0 || p.Epoch != first[id].Epoch {
			t.Errorf("%s rewritten: %+v, was %+v", id, p, first[id])
		}
	}
	if n := extra.Load(); n != 0 {
		t.Errorf("the controllers that lost the election wrote %d placements", n)
	}
	counts := slices.Sorted(maps.Values(r.byNode(t, r.h)))
	if !slices.Equal(counts, []int{2, 2, 2}) {
		t.Errorf("zone h spread %v, want 2 per node", r.byNode(t, r.h))
	}
}

// TestStaleEpochReport: after a move, a report from the previous owner
// (a late write for the old epoch, even under a live lease) does not make
// the zone ready; the new owner's report for the current epoch does.
func TestStaleEpochReport(t *testing.T) {
	r := newRegion(t)
	n1 := testenv.StartTestNode(t, r.e, "n1", r.h, testenv.TestNodeOptions{})
	testenv.StartTestNode(t, r.e, "n4", r.i, testenv.TestNodeOptions{})
	r.addEndpoints(t, 1)
	ep := r.eps[0]
	r.allConnected(t)
	old := r.placements(t)[ep+"/"+r.h]
	if old.Node != "n1" {
		t.Fatalf("placement %+v, want on n1", old)
	}
	// A second node that never reports, then n1 is lost: the ENI moves to n2.
	testenv.StartTestNode(t, r.e, "n2", r.h, testenv.TestNodeOptions{Silent: true})
	n1.Revoke(t)
	testenv.Eventually(t, "moved to n2", func() error {
		if p := r.placements(t)[ep+"/"+r.h]; p.Node != "n2" {
			return fmt.Errorf("placement %+v", p)
		}
		return nil
	})
	cur := r.placements(t)[ep+"/"+r.h]
	// n1 comes back (silent) and writes its old-epoch report late; n2
	// writes one for the old epoch too.
	back := testenv.StartTestNode(t, r.e, "n1", r.h, testenv.TestNodeOptions{Silent: true})
	back.WriteReport(t, ep, r.h, old.Epoch)
	for range 5 {
		if got := r.zoneStatus(t, ep, r.h); got == model.ZoneConnected {
			t.Fatalf("zone Connected on a stale report by the old owner")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := r.zoneStatus(t, ep, r.h); got != model.ZoneCreating {
		t.Errorf("zone %s with only a stale report, want %s", got, model.ZoneCreating)
	}
	// The owner's report for the current epoch makes it Connected.
	n2 := testenv.StartTestNode(t, r.e, "n2", r.h, testenv.TestNodeOptions{Silent: true})
	testenv.Eventually(t, "re-confirmed on n2's new lease", func() error {
		if p := r.placements(t)[ep+"/"+r.h]; p.Node != "n2" || p.NodeLease != n2.LeaseID() {
			return fmt.Errorf("placement %+v", p)
		}
		return nil
	})
	n2.WriteReport(t, ep, r.h, cur.Epoch) // the epoch before re-confirmation: stale too
	time.Sleep(300 * time.Millisecond)
	if got := r.zoneStatus(t, ep, r.h); got == model.ZoneConnected {
		t.Fatalf("zone Connected on the owner's report for a superseded epoch")
	}
	n2.WriteReport(t, ep, r.h, r.placements(t)[ep+"/"+r.h].Epoch)
	if got := r.zoneStatus(t, ep, r.h); got != model.ZoneConnected {
		t.Fatalf("zone %s with the owner's current report", got)
	}
}

// TestVNIBackfill: a region without nodes (a single machine) gets no
// placement and no VNI backfill: a VPC without a VNI (made before VNIs
// existed) keeps none. Once a node with an underlay address registers in
// zone h, the VPC gets a fresh, unique VNI and the endpoint's zone h is
// placed, while zone i, with no node, stays unplaced (the zone-agent rule).
func TestVNIBackfill(t *testing.T) {
	r := newRegion(t)
	r.addEndpoints(t, 1)
	old := r.s.ConsumerVPC.VpcID
	var vni int
	_, err := store.Update(bg, r.e.Store, r.e.Store.ResourceKey(store.KindVPC, old), func(v *model.VPC, tx *store.Txn) error {
		vni, v.VNI = v.VNI, 0
		tx.Delete(r.e.Store.VNIKey(vni))
		return nil
	})
	must(t, err)
	if vni == 0 {
		t.Fatal("the VPC had no VNI from create")
	}
	getVNI := func(id string) int {
		v, _, err := store.Get[model.VPC](bg, r.e.Store, r.e.Store.ResourceKey(store.KindVPC, id))
		must(t, err)
		return v.VNI
	}
	time.Sleep(time.Second) // a controller that backfilled without nodes would have now
	if got := getVNI(old); got != 0 {
		t.Fatalf("VNI %d backfilled in a region without nodes", got)
	}
	if ps := r.placements(t); len(ps) != 0 {
		t.Fatalf("placements in a region without nodes: %v", ps)
	}
	testenv.StartTestNode(t, r.e, "n1", r.h, testenv.TestNodeOptions{})
	testenv.Eventually(t, "VNI backfilled", func() error {
		if getVNI(old) == 0 {
			return fmt.Errorf("no VNI yet")
		}
		return nil
	})
	got := getVNI(old)
	if got == vni || got == getVNI(r.s.ProviderVPC.VpcID) {
		t.Errorf("backfilled VNI %d reuses a VNI (old %d, provider's %d)", got, vni, getVNI(r.s.ProviderVPC.VpcID))
	}
	testenv.Eventually(t, "zone h placed", func() error {
		if p := r.placements(t)[r.eps[0]+"/"+r.h]; p == nil || p.Node != "n1" {
			return fmt.Errorf("placement %+v", p)
		}
		return nil
	})
	if ps := r.placements(t); len(ps) != 1 {
		t.Errorf("placements %v, want zone h's only", ps)
	}
	keys, err := r.e.Store.Keys(bg, r.e.Store.KindPrefix(store.KindVNI))
	must(t, err)
	if !slices.Contains(keys, fmt.Sprint(got)) || slices.Contains(keys, fmt.Sprint(vni)) {
		t.Errorf("vni/ keys %v: want %d claimed and %d free", keys, got, vni)
	}
}
