//go:build linux

package region

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

// apiLoop calls c every 200 ms (node list, 10 s client deadline) and
// records each call.
func apiLoop(name string, c *client.Client) *loop {
	return startLoop(name, 200*time.Millisecond, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := c.ListNodes(ctx)
		return err
	})
}

// reconnectWindow is how long after a member's kill the API calls of the
// other members' clients may fail (they reconnect: etcd's client notices
// the dead member by its keepalive, §6.1).
const reconnectWindow = 5 * time.Second

// TestKillOneEtcdMember kill -9s one of the three members (n1's server:
// etcd member, API server, and possibly the placement controller's leader)
// under live traffic and API calls to the other two: no API call started
// after the reconnect window fails, a write succeeds, the data-plane nodes
// stay Ready, no ENI moves, and the traffic through the endpoint sees no
// failure. The member comes back and its API answers again.
func TestKillOneEtcdMember(t *testing.T) {
	e := startRegion(t)
	ipH, ipI := e.zoneIP[zoneH], e.zoneIP[zoneI]
	ownerH, err := e.holder(ipH)
	if err != nil {
		t.Fatal(err)
	}
	ls := e.startLoads(4)
	calls := []*loop{apiLoop("API calls to n2", e.apis[1]), apiLoop("API calls to n3", e.apis[2])}
	time.Sleep(2 * time.Second)
	t0 := time.Now()
	if err := e.region.Servers[0].Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(reconnectWindow + 10*time.Second)
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	if _, err := e.apis[1].CreateVPC(ctx, api.CreateVPCRequest{Name: "after-kill", CidrBlock: "10.9.0.0/16"}); err != nil {
		t.Errorf("a write through n2 with n1's member dead: %v", err)
	}
	e.waitReadyVia(ctx, e.apis[2], e.dataNodes()...)
	if h, err := e.holder(ipH); err != nil || h != ownerH {
		t.Errorf("zone h's ENI moved without a node lost: %v %v (was on %s)", h, err, ownerH.Name)
	}
	if err := e.noDuplicate(ipI, e.i); err != nil {
		t.Error(err)
	}
	end := time.Now()
	for _, c := range calls {
		c.Stop()
		inWindow, failedInWindow, ferr := c.between(t0, t0.Add(reconnectWindow))
		ok, failed, err := c.between(t0.Add(reconnectWindow), end)
		t.Logf("FIGURE %s: in the %v after the kill %d ok, %d failed (%v); after it %d ok, %d failed", c.name, reconnectWindow, inWindow, failedInWindow, ferr, ok, failed)
		if failed > 0 || ok == 0 {
			t.Errorf("%s after the reconnect window: %d ok, %d failed (first: %v)", c.name, ok, failed, err)
		}
	}
	ls.stop()
	for _, l := range ls.all() {
		t.Log(l)
		if _, failed, err := l.between(t0, end); failed > 0 {
			t.Errorf("%s failed %d times with one member down (first: %v)", l.name, failed, err)
		}
	}
	if err := e.region.Servers[0].Restart(); err != nil {
		t.Fatal(err)
	}
	e.waitReady(ctx, e.lab.Nodes...) // n1's API answers, every node Ready
}

// quorumLossEnv sets how long TestQuorumLoss keeps two members down
// (default 60s).
const quorumLossEnv = "PRIVLINK_QUORUM_LOSS"

// TestQuorumLoss kill -9s two of the three members (n2's and n3's
// servers) for 60 s under live traffic: the long-lived TCP connections
// keep flowing and new connections through the endpoint's domains succeed
// (static stability, 0 failures), the surviving API server answers every
// call within 5 s, with 503 ControlPlaneUnavailable, instead of hanging.
// When the members return, the API answers, every node is Ready and no ENI
// moved (node leases survived, §6.3); the convergence time is logged.
func TestQuorumLoss(t *testing.T) {
	loss := 60 * time.Second
	if s := os.Getenv(quorumLossEnv); s != "" {
		var err error
		if loss, err = time.ParseDuration(s); err != nil || loss < 10*time.Second {
			t.Fatalf("%s=%q: want a duration of 10s or more", quorumLossEnv, s)
		}
	}
	e := startRegion(t)
	ipH, ipI := e.zoneIP[zoneH], e.zoneIP[zoneI]
	ownerH, err := e.holder(ipH)
	if err != nil {
		t.Fatal(err)
	}
	ls := e.startLoads(4)
	time.Sleep(2 * time.Second)
	t0 := time.Now()
	for _, p := range e.region.Servers[1:] {
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	// The survivor's API: every call within 5 s, 503 once etcd has
	// noticed the quorum is gone.
	var worst time.Duration
	var lat503 []time.Duration
	for time.Since(t0) < loss {
		start := time.Now()
		ctx, cancel := context.WithTimeout(bg, 30*time.Second)
		_, err := e.admin.ListNodes(ctx)
		cancel()
		took := time.Since(start)
		worst = max(worst, took)
		var ae *api.Error
		switch {
		case took >= 5*time.Second:
			t.Errorf("an API call with quorum lost took %v (%v)", took, err)
		case errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable && ae.Code == "ControlPlaneUnavailable":
			lat503 = append(lat503, took)
		case start.Sub(t0) > 5*time.Second:
			t.Errorf("an API call %v into the quorum loss: %v, want 503 ControlPlaneUnavailable", start.Sub(t0).Round(time.Millisecond), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(lat503) == 0 {
		t.Error("no 503 ControlPlaneUnavailable with quorum lost")
	}
	t.Logf("FIGURE quorum lost for %v: %d API calls answered 503 ControlPlaneUnavailable in p50 %v, max %v; slowest call %v", loss, len(lat503),
		percentile(lat503, 50).Round(time.Millisecond), percentile(lat503, 100).Round(time.Millisecond), worst.Round(time.Millisecond))
	t1 := time.Now()
	for _, l := range ls.all() {
		ok, failed, err := l.between(t0, t1)
		t.Logf("FIGURE during the quorum loss: %s: %d ok, %d failed", l.name, ok, failed)
		if failed > 0 || ok == 0 {
			t.Errorf("%s with quorum lost: %d ok, %d failed (first: %v)", l.name, ok, failed, err)
		}
	}

	for _, p := range e.region.Servers[1:] {
		if err := p.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	e.waitReady(ctx, e.lab.Nodes...)
	if _, err := e.admin.CreateVPC(ctx, api.CreateVPCRequest{Name: "after-quorum", CidrBlock: "10.9.0.0/16"}); err != nil {
		t.Errorf("a write after the members returned: %v", err)
	}
	t.Logf("FIGURE convergence after the members returned (API answers, every node Ready, a write done): %v", time.Since(t1).Round(time.Millisecond))
	time.Sleep(5 * time.Second) // let a moved placement show, if any
	if h, err := e.holder(ipH); err != nil || h != ownerH {
		t.Errorf("zone h's ENI moved after the quorum loss: now %v (%v), was on %s", h, err, ownerH.Name)
	}
	if err := e.noDuplicate(ipI, e.i); err != nil {
		t.Error(err)
	}
	ls.stop()
	for _, l := range ls.all() {
		t.Log(l)
		if _, failed, err := l.between(t1, time.Now()); failed > 0 {
			t.Errorf("%s failed %d times after the members returned (first: %v)", l.name, failed, err)
		}
	}
}
