package store

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
)

// TestPlacementWritesAreCAS: a placement's epoch is its mod revision as
// the State reads it; a write or delete with a superseded epoch, for a
// missing endpoint or naming a node that is not ready changes nothing.
func TestPlacementWritesAreCAS(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	ep := model.NewID(model.PrefixEndpoint)
	p := model.ENIPlacement{Node: "n1", NodeLease: 7}
	if rev, err := s.PutPlacement(ctx, ep, "z", 0, p); err != nil || rev != 0 {
		t.Fatalf("placement for a missing endpoint: rev %d, %v", rev, err)
	}
	if err := s.PutRaw(ctx, s.ResourceKey(KindEndpoint, ep), "{}"); err != nil {
		t.Fatal(err)
	}
	if rev, err := s.PutPlacement(ctx, ep, "z", 0, p); err != nil || rev != 0 {
		t.Fatalf("placement on a node that is not ready: rev %d, %v", rev, err)
	}
	if err := s.PutRaw(ctx, s.NodeKey("n1"), MustJSON(model.NodeStatus{Name: "n1", LeaseID: 7})); err != nil {
		t.Fatal(err)
	}
	first, err := s.PutPlacement(ctx, ep, "z", 0, p)
	if err != nil || first == 0 {
		t.Fatalf("create: rev %d, %v", first, err)
	}
	if rev, _ := s.PutPlacement(ctx, ep, "z", 0, p); rev != 0 {
		t.Fatal("a second create succeeded")
	}
	st, err := s.ReadState(ctx, KindENIPlace)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Placement(ep, "z"); got == nil || got.Epoch != first {
		t.Fatalf("state placement %+v, want epoch %d", got, first)
	}
	p.Moves = 1
	second, err := s.PutPlacement(ctx, ep, "z", first, p)
	if err != nil || second <= first {
		t.Fatalf("update: rev %d, %v", second, err)
	}
	if rev, _ := s.PutPlacement(ctx, ep, "z", first, p); rev != 0 {
		t.Fatal("an update with a superseded epoch succeeded")
	}
	if rev, _ := s.DeletePlacement(ctx, ep, "z", first); rev != 0 {
		t.Fatal("a delete with a superseded epoch succeeded")
	}
	if rev, err := s.DeletePlacement(ctx, ep, "z", second); err != nil || rev == 0 {
		t.Fatalf("delete: rev %d, %v", rev, err)
	}
}

// TestCampaignFailover: one campaigner leads at a time; when the leader's
// process dies (its client closes, its session lease expires) the next
// one leads within the TTL and a bit.
func TestCampaignFailover(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	other, err := Open(ctx, Config{Endpoints: s.Endpoints(), Credentials: s.Credentials(), Logger: s.log})
	if err != nil {
		t.Fatal(err)
	}
	first, err := other.Campaign(ctx, "t", "first", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	won := make(chan *Leader, 1)
	go func() {
		l, err := s.Campaign(ctx, "t", "second", 2*time.Second)
		if err != nil {
			t.Error(err)
		}
		won <- l
	}()
	select {
	case <-won:
		t.Fatal("two leaders at once")
	case <-time.After(time.Second):
	}
	killed := time.Now()
	other.Close() // no keepalive, no resign: the session lease expires
	select {
	case l := <-won:
		t.Logf("second campaigner led %s after the leader died (session TTL 2s)", time.Since(killed).Round(time.Millisecond))
		select {
		case <-first.Lost():
		default:
			t.Error("the dead leader's Lost is not closed")
		}
		if l != nil {
			l.Resign()
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no new leader 10 s after the leader died")
	}
}

// TestCampaignEndsWhenEtcdIsGone: a campaign waiting behind a leader
// returns once its context ends even with etcd unreachable (etcd's
// Election.Campaign alone would not: a server stopping then would hang).
func TestCampaignEndsWhenEtcdIsGone(t *testing.T) {
	ctx := context.Background()
	s, _ := openEmbedded(t, Config{Logger: slog.Default()})
	open := func() *Store {
		c, err := Open(ctx, Config{Endpoints: s.Endpoints(), Credentials: s.Credentials(), Logger: s.log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	leader, waiter := open(), open()
	if _, err := leader.Campaign(ctx, "t", "leader", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := waiter.Campaign(cctx, "t", "waiter", 2*time.Second); done <- err }()
	time.Sleep(500 * time.Millisecond) // campaigning behind the leader
	s.Close()                          // the embedded etcd stops
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("campaign won with etcd gone")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("campaign still running 10 s after its context ended with etcd gone")
	}
}
