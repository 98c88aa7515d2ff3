package store

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
)

func freeURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

func openTest(t *testing.T) *Store {
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), ClientURL: freeURL(t), PeerURL: freeURL(t), Logger: slog.Default()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func putVPC(t *testing.T, s *Store, id string) int64 {
	r, err := s.cli.Put(context.Background(), s.Key(KindVPC, id), MustJSON(model.VPC{VpcID: id}))
	if err != nil {
		t.Fatal(err)
	}
	return r.Header.Revision
}

// TestCacheListWatch: the cache lists, reports synced, follows puts and
// deletes, and after its watch hits a compacted revision it relists and
// converges (the path a long disconnect takes).
func TestCacheListWatch(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	putVPC(t, s, "vpc-before")
	c := NewCache(s, slog.Default())
	ch := c.Subscribe()
	go c.Run(ctx)
	select {
	case <-c.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("cache never synced")
	}
	if c.State().VPCs["vpc-before"] == nil {
		t.Fatal("initial list missed a key")
	}
	putVPC(t, s, "vpc-after")
	s.cli.Delete(ctx, s.Key(KindVPC, "vpc-before"))
	waitState(t, c, ch, func(st *State) bool { return st.VPCs["vpc-after"] != nil && st.VPCs["vpc-before"] == nil })

	// A watch that starts behind a compaction fails with "compacted" ...
	old := c.State().Rev
	for i := 0; i < 5; i++ {
		putVPC(t, s, fmt.Sprintf("vpc-%d", i))
	}
	rev := putVPC(t, s, "vpc-last")
	if _, err := s.cli.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := c.watchFrom(ctx, old); err == nil || err.Error() != "watch compacted" {
		t.Fatalf("watch from a compacted revision: %v", err)
	}
	// ... and the running cache, relisting when needed, holds every key.
	waitState(t, c, ch, func(st *State) bool { return st.VPCs["vpc-last"] != nil && len(st.VPCs) == 7 })
}

func waitState(t *testing.T, c *Cache, ch <-chan struct{}, ok func(*State) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !ok(c.State()) {
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("cache never converged: %d VPCs at rev %d", len(c.State().VPCs), c.State().Rev)
		}
	}
}
