//go:build linux

package agent_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/handoff"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// TestNodeHandoff: a node agent hands over to a successor with a driver of
// its own (as `privlink agent --node --handoff-socket` started beside it
// would): a client on another node keeps reaching the ENI it serves with
// no connection refused or reset, the node keeps its lease (no step-down:
// the placement's fencing still names it) and the endpoint's report is
// not rewritten.
func TestNodeHandoff(t *testing.T) {
	e, nodes, ep, _, client := endpointOnSecondNode(t)
	n1, n2, eni := nodes[0], nodes[1], ep.Zones[0].IP
	reportKey := e.Store.ReportKey(labZone, ep.EndpointID)
	var rev0 int64
	testenv.Eventually(t, "n2's report healthy", func() error {
		rep, rev, err := store.Get[model.ZoneReport](bg, e.Store, reportKey)
		if err == nil && (!rep.Healthy || rep.Node != n2.Name) {
			err = fmt.Errorf("report %+v", rep)
		}
		rev0 = rev
		return err
	})
	lease0 := e.Cache.State().Nodes[n2.Name].LeaseID

	path := filepath.Join(t.TempDir(), "n2.sock")
	srv, err := handoff.Serve(path, n2.a, n2.log, nil)
	must(t, err)
	defer srv.Close()

	load := testenv.StartHammer(2, func() error {
		got, err := n1.hello(client, netip.AddrPortFrom(eni, 6001).String())
		if err == nil && got != "backend hi" {
			err = fmt.Errorf("answer %q", got)
		}
		return err
	})
	time.Sleep(200 * time.Millisecond)

	tk, err := handoff.Take(path, 10*time.Second)
	if err != nil || tk == nil {
		t.Fatalf("take: %v %v", tk, err)
	}
	if tk.Lease != lease0 {
		t.Errorf("offered lease %x, the node's is %x", tk.Lease, lease0)
	}
	drv, err := netdrv.New("netns", n2.NetnsPrefix, n2.log)
	must(t, err)
	socks := handoff.NewSockets(drv.Sockets, tk.Sockets)
	drv.Sockets = socks
	next := agent.New(agent.Config{Zone: n2.Zone, Store: e.Store, Cache: e.Cache, Driver: drv, Metrics: proxy.NewMetrics(nil),
		Logger: n2.log.With("gen", 2), AdoptLease: tk.Lease, DrainTimeout: time.Second,
		Node: &agent.NodeConfig{Name: n2.Name, UnderlayAddr: n2.Underlay, Namespace: "/run/netns/" + n2.Namespace}})
	ctx, cancel := context.WithCancel(bg)
	go func() { _ = next.Run(ctx) }()
	testenv.Eventually(t, "the successor ready", func() error {
		if !next.Ready() {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	if n := len(socks.CloseUnused()); n != 0 {
		t.Errorf("%d handed sockets unused", n)
	}
	must(t, tk.Ready(10*time.Second))
	<-srv.Released()
	n2.stop() // the predecessor drains and stops
	n2.drv, n2.a, n2.cancel = drv, next, cancel
	time.Sleep(300 * time.Millisecond)
	firstErr := load.Stop()
	t.Logf("%d round trips, %d failed", load.OK.Load(), load.Failed.Load())
	if firstErr != nil {
		t.Errorf("%d round trips failed across the handoff (first: %v)", load.Failed.Load(), firstErr)
	}
	if load.OK.Load() < 10 {
		t.Errorf("only %d round trips across the handoff", load.OK.Load())
	}
	helloThrough(t, n1, client, eni, "ENI on n2 after the handoff")
	if !n2.hasENI(t, eni) {
		t.Error("n2 no longer holds the ENI")
	}
	if l := e.Cache.State().Nodes[n2.Name]; l == nil || l.LeaseID != lease0 {
		t.Errorf("node/%s after the handoff: %+v, want lease %x", n2.Name, l, lease0)
	}
	if _, rev, err := store.Get[model.ZoneReport](bg, e.Store, reportKey); err != nil || rev != rev0 {
		t.Errorf("report rewritten: revision %d → %d (%v)", rev0, rev, err)
	}
}
