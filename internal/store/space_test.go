package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestNoSpaceAndRecovery fills an embedded etcd with a 2 MiB backend
// quota: writes fail with NoSpace and the gauge is 1; the operator's
// procedure of docs/security.md (compact, defragment, disarm, here through
// the same maintenance API etcdctl calls) makes writes work again, once
// the filler is deleted, and the gauge returns to 0.
func TestNoSpaceAndRecovery(t *testing.T) {
	ctx := context.Background()
	s, _ := openEmbedded(t, Config{Logger: slog.Default(), QuotaBytes: 2 << 20})
	t.Cleanup(s.Close)
	put := func(key, value string) error {
		_, err := s.NewTxn().Put(s.Prefix()+key, value).Commit(ctx)
		return err
	}
	filler := strings.Repeat("x", 256<<10)
	var err2 error
	for i := 0; i < 64 && !NoSpace(err2); i++ {
		if err2 = put(fmt.Sprintf("filler/%d", i), filler); err2 != nil && !NoSpace(err2) {
			t.Fatal(err2)
		}
	}
	if !NoSpace(err2) {
		t.Fatal("no NOSPACE under a 2 MiB quota after 16 MiB")
	}
	if got := gauge(t, s); got != 1 {
		t.Fatalf("privlink_store_nospace %v, want 1", got)
	}
	// Deletes still work under the alarm; then compact, defragment, disarm.
	resp, err := s.cli.Delete(ctx, s.Prefix()+"filler/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	ep := s.Endpoints()[0]
	if _, err := s.cli.Defragment(ctx, ep); err != nil {
		t.Fatal(err)
	}
	// An empty member disarms every alarm, as `etcdctl alarm disarm` does.
	if _, err := s.cli.AlarmDisarm(ctx, &clientv3.AlarmMember{}); err != nil {
		t.Fatal(err)
	}
	if err := put("after", "ok"); err != nil {
		t.Fatalf("write after compact, defrag, disarm: %v", err)
	}
	if got := gauge(t, s); got != 0 {
		t.Fatalf("privlink_store_nospace %v after a successful write, want 0", got)
	}
}

func gauge(t *testing.T, s *Store) float64 {
	t.Helper()
	var m dto.Metric
	if err := s.nospace.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
