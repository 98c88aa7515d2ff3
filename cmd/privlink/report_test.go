package main_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// zoneReport is zone i's report of an endpoint, as a test saw it settled.
type zoneReport struct {
	key        string
	rev, lease int64
}

// settledReport waits until zone i's report of ep has every backend
// checked healthy (a check still to pass would rewrite it during whatever
// the test does next, whoever runs the agent) and returns it.
func settledReport(t *testing.T, e *testenv.Env, s *testenv.Scenario, ep model.Endpoint) zoneReport {
	t.Helper()
	r := zoneReport{key: e.Store.ReportKey("cn-hangzhou-i", ep.EndpointID)}
	testenv.Eventually(t, "zone i's report: every backend healthy", func() error {
		rep, rev, err := store.Get[model.ZoneReport](context.Background(), e.Store, r.key)
		if err != nil {
			return err
		}
		if len(rep.Backends) != len(s.ProviderHosts) || slices.Contains(slices.Collect(maps.Values(rep.Backends)), false) {
			return fmt.Errorf("report %+v", rep)
		}
		r.rev = rev
		return nil
	})
	r.lease, _ = e.Store.LeaseOf(context.Background(), r.key)
	return r
}

// unchanged fails the test if the report was rewritten or re-leased
// since (after what).
func (r zoneReport) unchanged(t *testing.T, e *testenv.Env, what string) {
	t.Helper()
	rep, rev, err := store.Get[model.ZoneReport](context.Background(), e.Store, r.key)
	lease, _ := e.Store.LeaseOf(context.Background(), r.key)
	if err != nil || rev != r.rev || lease != r.lease {
		t.Errorf("%s rewrote zone i's report: revision %d → %d, lease %x → %x (%v)\n%+v", what, r.rev, rev, r.lease, lease, err, rep)
	}
}
