//go:build linux

package region

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// killsEnv sets how many kills TestKillENINode measures (default 5).
const killsEnv = "PRIVLINK_FAULT_KILLS"

// TestKillENINode kill -9s the node serving zone h's ENI under live
// traffic, again and again: each time the ENI moves to zone h's other
// node, a new connection through zone h's domain succeeds again (the
// failover time, kill to first success, p50/p99 over the kills), the
// restarted node rejoins and never answers for the ENI it lost (the /32 on
// one node only, every other VPC copy resolving it to the owner's VTEP).
// Zone i's connections see no failure at all; the failures of the
// endpoint-domain loads are counted and logged.
func TestKillENINode(t *testing.T) {
	kills := 5
	if s := os.Getenv(killsEnv); s != "" {
		var err error
		if kills, err = strconv.Atoi(s); err != nil || kills < 1 {
			t.Fatalf("%s=%q: want a count", killsEnv, s)
		}
	}
	e := startRegion(t)
	ip := e.zoneIP[zoneH]
	ls := e.startLoads(4)
	time.Sleep(2 * time.Second) // the loads run before the first fault
	var failovers []time.Duration
	for k := range kills {
		old, err := e.faultTarget(ip)
		if err != nil {
			t.Fatal(err)
		}
		p := e.proc(old)
		t0 := time.Now()
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		var back time.Time
		eventually(t, 30*time.Second, "a new connection through zone h's domain after the kill", func() error {
			if back = ls.probeH.firstOKAfter(t0); back.IsZero() {
				return errNotYet
			}
			return nil
		})
		failovers = append(failovers, back.Sub(t0))
		_, failed, ferr := ls.probeH.between(t0, back)
		t.Logf("kill %d: %s (held zone h's ENI %s) kill -9ed; first new connection after %v; %d failed probes (%v)",
			k+1, old.Name, ip, back.Sub(t0).Round(time.Millisecond), failed, ferr)
		if err := p.Restart(); err != nil {
			t.Fatal(err)
		}
		e.waitReady(bg, old)
		eventually(t, 30*time.Second, "one owner of the ENI after "+old.Name+" is back", func() error {
			owner, err := e.holder(ip)
			if err != nil {
				return err
			}
			if owner == old {
				return errNotYet // placements do not move back
			}
			return e.noDuplicate(ip, owner)
		})
	}
	time.Sleep(time.Second)
	ls.stop()
	for _, l := range ls.all() {
		t.Logf("FIGURE over %d kills: %s", kills, l)
	}
	for _, l := range []*loop{ls.mysqlI, ls.echoI} {
		if _, failed, err := l.between(time.Time{}, time.Now()); failed > 0 {
			t.Errorf("zone i saw failures: %s: %d (%v)", l.name, failed, err)
		}
	}
	t.Logf("FIGURE failover (kill -9 of zone h's ENI node -> first new connection through zone h's domain), N=%d: p50 %v, p99 %v, max %v",
		len(failovers), percentile(failovers, 50).Round(time.Millisecond), percentile(failovers, 99).Round(time.Millisecond),
		percentile(failovers, 100).Round(time.Millisecond))
}
