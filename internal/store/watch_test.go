package store

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
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
	s, _ := openEmbedded(t, Config{Logger: slog.Default()})
	t.Cleanup(s.Close)
	return s
}

// openEmbedded opens an embedded etcd with cfg (DataDir: a temporary one
// if empty) on loopback ports found free, and returns the Config it used.
// Another process can take a port between the check and etcd's bind (an
// outgoing connection's ephemeral port, with the suite's packages running
// in parallel): such an attempt is retried on other ports.
func openEmbedded(t *testing.T, cfg Config) (*Store, Config) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	for attempt := 1; ; attempt++ {
		cfg.ClientURL, cfg.PeerURL = freeURL(t), freeURL(t)
		s, err := Open(context.Background(), cfg)
		if err == nil {
			return s, cfg
		}
		if attempt == 5 || !AddrInUse(err) {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v; again on other ports", attempt, err)
	}
}

// ids maps the test's short names to valid VPC IDs.
var ids = map[string]string{}

func vpcID(name string) string {
	if ids[name] == "" {
		ids[name] = model.NewID(model.PrefixVPC)
	}
	return ids[name]
}

func testVPC(name string) model.VPC {
	return model.VPC{VpcID: vpcID(name), AccountID: "1234567890123456", CidrBlock: netip.MustParsePrefix("10.0.0.0/16")}
}

func putVPC(t *testing.T, s *Store, name string) int64 {
	r, err := s.cli.Put(context.Background(), s.ResourceKey(KindVPC, vpcID(name)), MustJSON(testVPC(name)))
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
	if c.State().VPCs[vpcID("vpc-before")] == nil {
		t.Fatal("initial list missed a key")
	}
	putVPC(t, s, "vpc-after")
	s.cli.Delete(ctx, s.ResourceKey(KindVPC, vpcID("vpc-before")))
	waitState(t, c, ch, func(st *State) bool { return st.VPCs[vpcID("vpc-after")] != nil && st.VPCs[vpcID("vpc-before")] == nil })

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
	waitState(t, c, ch, func(st *State) bool { return st.VPCs[vpcID("vpc-last")] != nil && len(st.VPCs) == 7 })
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
