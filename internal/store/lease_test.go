package store

import (
	"context"
	"testing"
	"time"
)

// TestLeaseOutlivesATimedOutWrite: a write under the lease that times out
// (etcd slow, as while a member shuts down) leaves the keepalive running,
// so the lease and its keys outlive the TTL; halting it there withdrew a
// live agent's zone.
func TestLeaseOutlivesATimedOutWrite(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	l := s.NewLease(time.Second)
	if _, err := l.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	key := s.Prefix() + "test/alive"
	if err := l.Write(ctx, map[string]any{key: "yes"}); err != nil {
		t.Fatal(err)
	}
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if err := l.Write(expired, map[string]any{key: "again"}); err == nil || !Unavailable(err) {
		t.Fatalf("write with a passed deadline: %v", err)
	}
	time.Sleep(2500 * time.Millisecond) // past the TTL
	r, err := s.cli.Get(ctx, key)
	if err != nil || len(r.Kvs) != 1 {
		t.Fatalf("the key under the lease after a timed-out write and 2.5 TTLs: %v %v", r, err)
	}
	if fresh, err := l.Ensure(ctx); err != nil || fresh {
		t.Fatalf("Ensure after it: fresh %v, %v (want the same lease)", fresh, err)
	}
}
