package agent_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
	"github.com/privlink/privlink/internal/traffic"
)

// TestTrafficReports: an agent writes a leased traffic report per endpoint
// zone with its backends' checks; an idle one is not rewritten while
// nothing changes, traffic makes it rewritten with the counts (and not
// again once the traffic stops), and
// deleting the endpoint deletes the reports at once.
func TestTrafficReports(t *testing.T) {
	// quietRounds holds at least one agent round: with nothing changing an
	// agent reconciles (and may write traffic) every 2 s.
	const quietRounds = 2500 * time.Millisecond
	e := testenv.Start(t, testenv.Options{Server: func(c *server.Config) { c.TrafficReportEvery = 200 * time.Millisecond }})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for i, h := range s.ProviderHosts {
		serveHello(t, e, h.HostID, 6001, fmt.Sprintf("backend-%d", i))
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	zone := ep.Zones[0].ZoneID
	key := e.Store.TrafficKey(zone, ep.EndpointID)

	var rev int64
	testenv.Eventually(t, "an idle report with checked backends", func() error {
		rep, r, err := store.Get[model.TrafficReport](bg, e.Store, key)
		if err != nil {
			return err
		}
		if len(rep.Backends) != len(s.ProviderHosts) {
			return fmt.Errorf("backends %+v", rep.Backends)
		}
		for _, b := range rep.Backends {
			if !b.Healthy || b.CheckTime == "" || b.ZoneID != zone {
				return fmt.Errorf("backend %+v", b)
			}
		}
		rev = r
		return nil
	})
	if lease, err := e.Store.LeaseOf(bg, key); err != nil || lease == 0 {
		t.Errorf("traffic report not under a lease: %d %v", lease, err)
	}
	time.Sleep(quietRounds)
	if _, r, err := store.Get[model.TrafficReport](bg, e.Store, key); err != nil || r != rev {
		t.Errorf("idle report rewritten: revision %d -> %d (%v)", rev, r, err)
	}

	for range 5 {
		if got, err := hello(t, e, s.ConsumerHost.HostID, ep.Zones[0].IP.String()+":6001"); err != nil || !strings.HasPrefix(got, "backend-") {
			t.Fatalf("hello: %q %v", got, err)
		}
	}
	testenv.Eventually(t, "the traffic in the report", func() error {
		rep, _, err := store.Get[model.TrafficReport](bg, e.Store, key)
		if err != nil {
			return err
		}
		if n := traffic.Total(rep.Hour.NewConnections); n != 5 {
			return fmt.Errorf("%d new connections in the hour", n)
		}
		if n := traffic.Total(rep.Hour.BytesIn); n != 5*3 { // "hi\n"
			return fmt.Errorf("%d bytes in", n)
		}
		return nil
	})
	// Quiet since (the proxy closed its connections too): not rewritten
	// any more; readers align the series by time.
	testenv.Eventually(t, "the report left as it is once the traffic stopped", func() error {
		_, r1, err := store.Get[model.TrafficReport](bg, e.Store, key)
		if err != nil {
			return err
		}
		time.Sleep(quietRounds)
		if _, r2, err := store.Get[model.TrafficReport](bg, e.Store, key); err != nil || r2 != r1 {
			return fmt.Errorf("rewritten: revision %d -> %d (%v)", r1, r2, err)
		}
		return nil
	})

	if _, err := s.Consumer.DeleteEndpoint(bg, ep.EndpointID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "reports gone with the endpoint", func() error {
		for _, z := range ep.Zones {
			if _, _, err := store.Get[model.TrafficReport](bg, e.Store, e.Store.TrafficKey(z.ZoneID, ep.EndpointID)); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("zone %s: %v", z.ZoneID, err)
			}
		}
		return nil
	})
}
