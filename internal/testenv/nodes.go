package testenv

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// TestNode plays a node agent's part in the store (docs/design/multinode.md
// §2, §4): it registers the node, holds its liveness record under a real
// lease on its own etcd client, and reports every ENI placed on it under
// that lease, as ready and healthy, with the placement's epoch. It builds
// no data plane: tests of the control plane (placement, status, DNS) use it
// where a real node agent would need machines.
type TestNode struct {
	Name, Zone string
	st         *store.Store
	cancel     context.CancelFunc
	done       chan struct{}
	lease      int64
	leaseRef   *store.Lease
	closeOnce  sync.Once
}

// nodeAddrs numbers the TestNodes' default underlay addresses.
var nodeAddrs atomic.Uint32

// TestNodeOptions shape a TestNode.
type TestNodeOptions struct {
	// Underlay is the node's underlay address (default 10.255.0.<n>, any
	// valid IPv4: nothing is sent to it).
	Underlay netip.Addr
	// NoUnderlay registers the node without underlay address (the
	// server's own node on one machine: the region's only node).
	NoUnderlay bool
	// TTL of the node's lease (default 3 s, the agent's default).
	TTL time.Duration
	// Silent: the node is ready but writes no report.
	Silent bool
}

// StartTestNode registers the node and makes it ready; Kill or the test's
// end stops it.
func StartTestNode(t testing.TB, e *Env, name, zone string, o TestNodeOptions) *TestNode {
	t.Helper()
	if !o.Underlay.IsValid() && !o.NoUnderlay {
		i := nodeAddrs.Add(1)
		o.Underlay = netip.AddrFrom4([4]byte{10, 255, byte(i >> 8), byte(i)})
	}
	if o.TTL == 0 {
		o.TTL = 3 * time.Second
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Endpoints: e.Store.Endpoints(), Credentials: e.Store.Credentials(), Logger: slog.New(slog.DiscardHandler)})
	must(t, err)
	if _, err := st.RegisterNode(ctx, store.NodeRegistration{Name: name, ZoneID: zone, UnderlayAddr: o.Underlay}); err != nil {
		st.Close()
		t.Fatalf("register node %s: %v", name, err)
	}
	lease := st.NewLease(o.TTL)
	if _, err := lease.Ensure(ctx); err != nil {
		st.Close()
		t.Fatalf("node %s: lease: %v", name, err)
	}
	n := &TestNode{Name: name, Zone: zone, st: st, done: make(chan struct{}), lease: lease.ID(), leaseRef: lease}
	if err := lease.Write(ctx, map[string]any{st.NodeKey(name): model.NodeStatus{Name: name, LeaseID: lease.ID(),
		Version: "test", Hostname: name, Started: time.Now().UTC().Format(time.RFC3339), Synced: true}}); err != nil {
		st.Close()
		t.Fatalf("node %s: liveness record: %v", name, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	n.cancel = cancel
	cache := store.NewCache(st, slog.New(slog.DiscardHandler))
	go cache.Run(rctx)
	go func() {
		defer close(n.done)
		if o.Silent {
			<-rctx.Done()
			return
		}
		cache.Loop(rctx, "test node "+name, 500*time.Millisecond, func(s *store.State) { n.report(rctx, lease, s) })
	}()
	t.Cleanup(n.Kill)
	return n
}

// LeaseID is the node's lease.
func (n *TestNode) LeaseID() int64 { return n.lease }

// report writes a report for each placement on this node under its lease
// whose report is missing or of another epoch.
func (n *TestNode) report(ctx context.Context, lease *store.Lease, s *store.State) {
	kv := map[string]any{}
	for id, p := range s.Placements {
		if p.Node != n.Name || p.NodeLease != n.lease {
			continue
		}
		ep, zone, _ := store.SplitPlacementID(id)
		if r := s.Report(zone, ep); r != nil && r.Node == n.Name && r.Epoch == p.Epoch {
			continue
		}
		kv[n.st.ReportKey(zone, ep)] = model.ZoneReport{EndpointID: ep, ZoneID: zone, Ready: true, Healthy: true, Node: n.Name, Epoch: p.Epoch}
	}
	if len(kv) > 0 {
		_ = lease.Write(ctx, kv)
	}
}

// WriteReport writes one report under the node's lease, whatever the
// placement says (a late or stale write); only for a Silent node (a
// Lease is used by one goroutine).
func (n *TestNode) WriteReport(t testing.TB, endpointID, zoneID string, epoch int64) {
	t.Helper()
	must(t, n.leaseRef.Write(context.Background(), map[string]any{n.st.ReportKey(zoneID, endpointID): model.ZoneReport{
		EndpointID: endpointID, ZoneID: zoneID, Ready: true, Healthy: true, Node: n.Name, Epoch: epoch}}))
}

// Kill stops the node as a dead process would: no keepalive any more,
// so its lease, liveness record and reports vanish after the TTL.
func (n *TestNode) Kill() {
	n.closeOnce.Do(func() {
		n.cancel()
		<-n.done
		n.st.Close()
	})
}

// Revoke revokes the node's lease (its keys vanish at once) and stops it.
func (n *TestNode) Revoke(t testing.TB) {
	t.Helper()
	must(t, n.st.RevokeLease(context.Background(), n.lease))
	n.Kill()
}
