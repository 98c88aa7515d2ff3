package store

import (
	"context"
	"errors"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/privlink/privlink/internal/model"
)

// TestBadRecords: a record that does not decode or validate never replaces
// or deletes the last good value in the cache (also across a relist), is
// skipped by List, fails Get, and is counted once per revision.
func TestBadRecords(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := NewCache(s, s.log)
	ch := c.Subscribe()
	go c.Run(ctx)
	<-c.Synced()
	bad := []struct{ name, value string }{
		{"garbage", "\x00\xffnot json"},
		{"invalid json", `{"vpcId":`},
		{"wrong field type", `{"vpcId":42,"accountId":"1234567890123456","cidrBlock":"10.0.0.0/16"}`},
		{"bad address", `{"vpcId":"` + vpcID("v") + `","accountId":"1234567890123456","cidrBlock":"10.0.0.300/16"}`},
		{"invalid values", `{"vpcId":"vpc-x","accountId":"1","cidrBlock":"10.0.0.0/16"}`},
		{"empty", ``},
	}
	key := s.ResourceKey(KindVPC, vpcID("v"))
	putVPC(t, s, "v")
	waitState(t, c, ch, func(st *State) bool { return st.VPCs[vpcID("v")] != nil })
	for i, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.PutRaw(ctx, key, tc.value); err != nil {
				t.Fatal(err)
			}
			putVPC(t, s, "marker-"+tc.name) // a later change: the cache has seen the bad one
			waitState(t, c, ch, func(st *State) bool { return st.VPCs[vpcID("marker-"+tc.name)] != nil })
			if got := c.State().VPCs[vpcID("v")]; got == nil || got.CidrBlock.String() != "10.0.0.0/16" {
				t.Fatalf("cache lost the last good value: %+v", got)
			}
			var m dto.Metric
			_ = s.bad.counter.WithLabelValues(KindVPC).Write(&m)
			if n := m.GetCounter().GetValue(); n != float64(i+1) {
				t.Errorf("bad records counted %v, want %d", n, i+1)
			}
			list, err := List[model.VPC](ctx, s, s.KindPrefix(KindVPC))
			if err != nil || len(list) != i+1 {
				t.Errorf("List: %d records, %v; want the %d good ones", len(list), err, i+1)
			}
			if _, _, err := Get[model.VPC](ctx, s, key); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("Get of a bad record: %v", err)
			}
			st, err := s.readState(ctx, c.State())
			if err != nil || st.VPCs[vpcID("v")] == nil {
				t.Errorf("relist dropped the last good value: %v", err)
			}
		})
	}
}

// TestLoopRecoversPanics: a reconcile round that panics is counted and the
// loop runs the next round.
func TestLoopRecoversPanics(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := NewCache(s, s.log)
	go c.Run(ctx)
	rounds := make(chan int, 10)
	n := 0
	go c.Loop(ctx, "test", 10*time.Millisecond, func(*State) {
		n++
		rounds <- n
		if n == 1 {
			panic("first round fails")
		}
	})
	for want := 1; want <= 2; want++ {
		select {
		case got := <-rounds:
			if got != want {
				t.Fatalf("round %d, want %d", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d never ran", want)
		}
	}
	var m dto.Metric
	_ = s.panics.WithLabelValues("test").Write(&m)
	if m.GetCounter().GetValue() != 1 {
		t.Errorf("panics counted %v, want 1", m.GetCounter().GetValue())
	}
}
