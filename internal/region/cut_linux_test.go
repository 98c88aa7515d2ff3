//go:build linux

package region

import (
	"context"
	"testing"
	"time"
)

// TestCutENINode cuts the node serving zone h's ENI off the underlay
// (Lab.Cut: its processes keep running, it loses its peers and etcd) under
// live traffic: the ENI moves to zone h's other node and new connections
// through zone h's domain succeed again (time logged); zone i sees no
// failure. When the node comes back (Lab.Heal) it re-registers under a new
// lease and gives the ENI up: the /32 is on the new owner only and the app
// node's copy of the VPC resolves it to the new owner's VTEP (time from the
// heal logged).
func TestCutENINode(t *testing.T) {
	e := startRegion(t)
	ip := e.zoneIP[zoneH]
	old, err := e.faultTarget(ip)
	if err != nil {
		t.Fatal(err)
	}
	ls := e.startLoads(4)
	time.Sleep(2 * time.Second)
	if err := e.lab.Cut(old); err != nil {
		t.Fatal(err)
	}
	// From the moment the link is down: a probe begun just before could
	// still go through the old node and be taken for one after the move.
	t0 := time.Now()
	var back time.Time
	eventually(t, 30*time.Second, "a new connection through zone h's domain after the cut", func() error {
		if back = ls.probeH.firstOKAfter(t0); back.IsZero() {
			return errNotYet
		}
		return nil
	})
	hs, err := e.holders(ip)
	if err != nil {
		t.Fatal(err)
	}
	var owner = hs[0]
	if len(hs) != 2 || (hs[0] != old && hs[1] != old) { // the cut node keeps its stale copy until it hears from etcd
		t.Fatalf("holders of %s while %s is cut: %v", ip, old.Name, names(hs))
	}
	if owner == old {
		owner = hs[1]
	}
	_, failed, ferr := ls.probeH.between(t0, back)
	t.Logf("FIGURE cut of %s (zone h's ENI %s): moved to %s, first new connection through zone h's domain after %v; %d failed probes (%v)",
		old.Name, ip, owner.Name, back.Sub(t0).Round(time.Millisecond), failed, ferr)

	time.Sleep(2 * time.Second) // the cut lasts a little past the move
	t1 := time.Now()
	if err := e.lab.Heal(old); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	e.waitReady(ctx, old)
	eventually(t, 30*time.Second, old.Name+" gives the ENI up", func() error { return e.noDuplicate(ip, owner) })
	t.Logf("FIGURE heal of %s: it gave the ENI up (one /32 in the region, neighbour entries on %s's VTEP) %v after the heal",
		old.Name, owner.Name, time.Since(t1).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	if err := e.noDuplicate(ip, owner); err != nil { // and stays so
		t.Error(err)
	}
	ls.stop()
	for _, l := range ls.all() {
		t.Log(l)
	}
	for _, l := range []*loop{ls.mysqlI, ls.echoI} {
		if _, failed, err := l.between(time.Time{}, time.Now()); failed > 0 {
			t.Errorf("zone i saw failures: %s: %d (%v)", l.name, failed, err)
		}
	}
	if _, failed, err := ls.probeH.between(back, time.Now()); failed > 0 {
		t.Errorf("zone h failed %d times after the move, across the heal (first: %v)", failed, err)
	}
}
