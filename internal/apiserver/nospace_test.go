package apiserver_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// TestStoreFull fills an embedded etcd with a tiny backend quota until it
// raises NOSPACE: a create answers 507 ControlPlaneFull with what the
// operator must do, reads still work, and privlink_store_nospace is 1.
func TestStoreFull(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}, EtcdQuotaBytes: 2 << 20})
	c, _ := e.Account(t, "tenant")
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if got := nospace(t, e); got != 0 {
		t.Fatalf("privlink_store_nospace %v before the store is full", got)
	}
	filler := strings.Repeat("x", 256<<10)
	full, filled := false, 0
	for i := 0; i < 64 && !full; i++ { // 16 MiB at most
		err := e.Store.PutRaw(bg, fmt.Sprintf("%sfiller/%d", e.Store.Prefix(), i), filler)
		switch {
		case store.NoSpace(err):
			full = true
		default:
			filled++
		case err != nil:
			t.Fatal(err)
		}
	}
	if !full {
		t.Fatal("etcd took 16 MiB under a 2 MiB quota")
	}
	t.Logf("NOSPACE under a 2 MiB backend quota after %d writes of 256 KiB", filled)
	_, err = c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.1.0.0/16"})
	wantCode(t, err, "ControlPlaneFull")
	if ae := err.(*api.Error); ae.Status != 507 || !strings.Contains(ae.Message, "defragment") || !strings.Contains(ae.Message, "disarm") {
		t.Errorf("full store: HTTP %d %q, want 507 telling the operator to compact, defragment and disarm", ae.Status, ae.Message)
	}
	if got, err := c.GetVPC(bg, vpc.VpcID); err != nil || got.VpcID != vpc.VpcID {
		t.Errorf("reads fail while the store is full: %v", err)
	}
	if got := nospace(t, e); got != 1 {
		t.Errorf("privlink_store_nospace %v while etcd refuses writes, want 1", got)
	}
}

// nospace reads the privlink_store_nospace gauge as /metrics shows it.
func nospace(t *testing.T, e *testenv.Env) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Store.Metrics()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "privlink_store_nospace" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no privlink_store_nospace metric")
	return 0
}
