package store

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
)

// TestChanges: Changes names the added, replaced and removed records of
// the kinds asked for, by identity (a record written again with the same
// content is a change), and nothing for records two States share.
func TestChanges(t *testing.T) {
	a, b, c := &model.Endpoint{EndpointID: "ep-a"}, &model.Endpoint{EndpointID: "ep-b"}, &model.Endpoint{EndpointID: "ep-c"}
	again := *a
	svc := &model.EndpointService{ServiceID: "epsrv-1"}
	base := newState()
	base.Endpoints = map[string]*model.Endpoint{"ep-a": a, "ep-b": b}
	base.Services = map[string]*model.EndpointService{"epsrv-1": svc}
	for _, tc := range []struct {
		name string
		edit func(s *State)
		only []string
		want []string
	}{
		{"nothing", func(s *State) {}, nil, nil},
		{"added", func(s *State) { s.Endpoints["ep-c"] = c }, nil, []string{"ep/ep-c"}},
		{"removed", func(s *State) { delete(s.Endpoints, "ep-b") }, nil, []string{"ep/ep-b"}},
		{"rewritten, same content", func(s *State) { s.Endpoints["ep-a"] = &again }, nil, []string{"ep/ep-a"}},
		{"two kinds", func(s *State) { s.Endpoints["ep-c"] = c; delete(s.Services, "epsrv-1") }, nil, []string{"ep/ep-c", "svc/epsrv-1"}},
		{"kind not asked for", func(s *State) { s.Endpoints["ep-c"] = c; delete(s.Services, "epsrv-1") }, []string{KindService}, []string{"svc/epsrv-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := base.cloneKinds(map[string]bool{KindEndpoint: true, KindService: true})
			tc.edit(next)
			got := Changes(base, next, tc.only...)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Changes = %v, want %v", got, tc.want)
			}
			if len(base.Endpoints) != 2 || base.Endpoints["ep-a"] != a || len(base.Services) != 1 {
				t.Fatalf("the edit changed the State it was cloned from: %v %v", base.Endpoints, base.Services)
			}
		})
	}
}

// TestCacheSharesUntouchedKinds: with a real etcd, each watch response
// copies only the maps of the kinds it changes; the States a consumer
// already holds stay exactly as they were (new keys, a bad value and a
// deletion do not leak into them), and Changes between consecutive
// States names what the writes changed.
func TestCacheSharesUntouchedKinds(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	putVPC(t, s, "share-a")
	c := NewCache(s, slog.Default())
	ch := c.Subscribe()
	go c.Run(ctx)
	select {
	case <-c.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("cache never synced")
	}
	a, b := vpcID("share-a"), vpcID("share-b")
	s1 := c.State()
	putVPC(t, s, "share-b")
	waitState(t, c, ch, func(st *State) bool { return st.VPCs[b] != nil })
	s2 := c.State()
	if s1.VPCs[b] != nil || len(s1.VPCs) != 1 {
		t.Fatalf("an older State changed: %d VPCs", len(s1.VPCs))
	}
	if got := Changes(s1, s2); !slices.Equal(got, []string{"vpc/" + b}) {
		t.Fatalf("Changes after a put = %v", got)
	}
	if got := c.ChangesSince(s1, s2); !slices.Equal(got, []string{"vpc/" + b}) || s1.list == nil || s1.list != s2.list {
		t.Fatalf("ChangesSince after a put = %v (from the log: %v)", got, s1.list != nil && s1.list == s2.list)
	}
	if !sameMap(s1.Endpoints, s2.Endpoints) || !sameMap(s1.Reports, s2.Reports) || sameMap(s1.VPCs, s2.VPCs) {
		t.Fatal("a put of a VPC copied other kinds' maps, or shared the VPCs map")
	}

	// A bad value keeps the last good one and is marked bad in the new
	// State only.
	if _, err := s.cli.Put(ctx, s.ResourceKey(KindVPC, a), "{not json"); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, ch, func(st *State) bool { return st.Bad(KindVPC, a) })
	s3 := c.State()
	if s2.Bad(KindVPC, a) || s3.VPCs[a] != s2.VPCs[a] {
		t.Fatalf("bad value: older State marked bad %v, last good value kept %v", s2.Bad(KindVPC, a), s3.VPCs[a] == s2.VPCs[a])
	}
	if got := Changes(s2, s3); len(got) != 0 {
		t.Fatalf("Changes after a bad value = %v, want none", got)
	}

	if _, err := s.cli.Delete(ctx, s.ResourceKey(KindVPC, b)); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, ch, func(st *State) bool { return st.VPCs[b] == nil })
	s4 := c.State()
	if s3.VPCs[b] == nil || !s4.Bad(KindVPC, a) {
		t.Fatal("a deletion changed the older State, or lost the bad mark")
	}
	if got := Changes(s3, s4); !slices.Equal(got, []string{"vpc/" + b}) {
		t.Fatalf("Changes after a delete = %v", got)
	}
	// Over several responses the log names every record changed (the bad
	// value too: it names records written, whatever their value), and
	// agrees with Changes on the others.
	got := c.ChangesSince(s1, s4)
	slices.Sort(got)
	want := []string{"vpc/" + a, "vpc/" + b, "vpc/" + b}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("ChangesSince over three responses = %v, want %v", got, want)
	}
	if got := c.ChangesSince(s1, s4, KindEndpoint); len(got) != 0 {
		t.Fatalf("ChangesSince of endpoints = %v", got)
	}
	// States of different lists (a relist) or not from a cache: Changes.
	fresh, err := s.ReadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ChangesSince(s2, fresh, KindVPC); len(got) != 2 {
		t.Fatalf("ChangesSince across a relist = %v, want both VPC records (a is bad with no last good value in a fresh read, b is gone)", got)
	}
}

// TestChangeLogBounded: the log keeps the last responses only; asked for
// changes it no longer holds, it says so (the caller compares maps).
func TestChangeLogBounded(t *testing.T) {
	l := newChangeLog()
	seq := uint64(0)
	for i := range changeLogSize + 10 {
		seq = l.add(seq, []string{fmt.Sprintf("ep/ep-%d", i)})
	}
	if _, ok := l.since(0, seq); ok {
		t.Fatal("the log answered for responses it dropped")
	}
	got, ok := l.since(seq-2, seq)
	if !ok || !slices.Equal(got, []string{fmt.Sprintf("ep/ep-%d", changeLogSize+8), fmt.Sprintf("ep/ep-%d", changeLogSize+9)}) {
		t.Fatalf("since(last two) = %v %v", got, ok)
	}
	if got, ok := l.since(seq, seq); !ok || len(got) != 0 {
		t.Fatalf("since(same) = %v %v", got, ok)
	}
	if l.first+uint64(len(l.recs)) != seq+1 || len(l.recs) > changeLogSize {
		t.Fatalf("log holds %d entries from %d, last seq %d", len(l.recs), l.first, seq)
	}
}

// TestFollowStatesLog: the States FollowStates hands out share a change
// log, so what changed between any two of them (TouchedEndpoints, the
// events controller's diff) is read from it, not from a pass over every
// record of the kinds touched.
func TestFollowStatesLog(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	putVPC(t, s, "follow-0")
	r, err := s.cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	var states []*State
	done := make(chan error, 1)
	go func() {
		done <- s.FollowStates(ctx, r.Header.Revision, func(prev, next *State) error {
			if len(states) == 0 {
				states = append(states, prev)
			}
			states = append(states, next)
			if len(states) == 4 {
				cancel()
			}
			return nil
		})
	}()
	for _, name := range []string{"follow-1", "follow-2", "follow-3"} {
		putVPC(t, s, name)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("FollowStates did not see three writes")
	}
	if len(states) != 4 {
		t.Fatalf("%d States", len(states))
	}
	for i, st := range states {
		if st.list == nil || st.list != states[0].list {
			t.Fatalf("State %d does not share the first one's log", i)
		}
	}
	got := changesSince(states[0], states[3])
	slices.Sort(got)
	want := []string{"vpc/" + vpcID("follow-1"), "vpc/" + vpcID("follow-2"), "vpc/" + vpcID("follow-3")}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("changes over three revisions = %v, want %v", got, want)
	}
	if eps := TouchedEndpoints(states[2], states[3]); eps == nil || len(eps) != 0 {
		t.Fatalf("a VPC write touched endpoints %v", eps)
	}
}
