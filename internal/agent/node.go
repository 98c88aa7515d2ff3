package agent

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/privlink/privlink/internal/agent/overlay"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
)

// Node mode (docs/design/multinode.md §2–§4): the agent is one node of a
// region that spans machines. It serves the hosts the store places on the
// node and the ENIs whose placement names the node under its current
// lease, holds a copy of every VPC it has anything of, and joins those
// copies to the other nodes' through the driver's Overlay role.

// NodeConfig makes an agent a node agent; Config.Zone is the node's zone.
type NodeConfig struct {
	Name string
	// UnderlayAddr is the node's IPv4 address on the underlay; the zero
	// Addr registers a node without overlay (it may only be the region's
	// one node).
	UnderlayAddr netip.Addr
	// UnderlayMTU overrides the MTU of the underlay link (0: read it);
	// the VPC MTU is that minus netdrv.VXLANOverhead.
	UnderlayMTU int
	// Namespace is the node namespace file where the VXLAN sockets live
	// ("" = the process's own, as on a real machine).
	Namespace string
}

// nodeState is the node agent's own bookkeeping (run goroutine only).
type nodeState struct {
	reg      *model.NodeReg // nil until registered
	def      string         // meta/defaultnode: the node of hosts without nodeName
	started  string
	fresh    bool                      // a lease was granted this round: write node/ after the apply
	overlays map[string]int            // VPC copies with an overlay device -> VNI
	entries  map[string]string         // VPC -> the entries last applied (as JSON)
	epochs   map[string]placementEpoch // endpoint zone "<ep>/<zone>" -> its placement's epoch
	peers    string                    // the underlay peers last allowed (SetUnderlayPeers), as text
}

type placementEpoch struct {
	p     *model.ENIPlacement // the decoded value it was read for
	epoch int64
}

// Serves is the fencing rule of §4.3: a node serves an endpoint zone's ENI
// only while the placement names it under its current lease. A node that
// lost its lease (cut off, restarted) serves nothing placed under the old
// one until the control plane confirms the placement with the new one.
func Serves(p *model.ENIPlacement, self string, lease int64) bool {
	return p != nil && lease != 0 && p.Node == self && p.NodeLease == lease
}

// nodeScope is what the store places on node self of zone holding lease:
// its hosts (def owns hosts without nodeName) and the ENIs it Serves.
func nodeScope(st *store.State, zone, self, def string, lease int64) scope {
	return scope{zone: zone,
		host: func(h *model.Host) bool { return store.HostNode(h, def) == self },
		eni: func(ep *model.Endpoint, z model.EndpointZone) bool {
			return z.ZoneID == zone && Serves(st.Placement(ep.EndpointID, z.ZoneID), self, lease)
		}}
}

// nodeScopeKey identifies a nodeScope for the incremental compute: the
// same key, the same scope functions.
func nodeScopeKey(zone, self, def string, lease int64) string {
	return "node/" + zone + "/" + self + "/" + def + "/" + strconv.FormatInt(lease, 10)
}

// register writes the node's registration (once per process) and
// configures the driver's overlay from it.
func (a *Agent) register(ctx context.Context) error {
	n := a.cfg.Node
	reg, err := a.cfg.Store.RegisterNode(ctx, store.NodeRegistration{Name: n.Name, ZoneID: a.cfg.Zone, UnderlayAddr: n.UnderlayAddr})
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.Name, err)
	}
	def, err := a.cfg.Store.DefaultNode(ctx)
	if err != nil {
		return err
	}
	if reg.UnderlayAddr.IsValid() {
		nc := netdrv.Node{Namespace: n.Namespace, UnderlayAddr: reg.UnderlayAddr, Index: reg.Index}
		if n.UnderlayMTU > 0 {
			nc.VPCMTU = n.UnderlayMTU - netdrv.VXLANOverhead
		}
		if err := a.cfg.Driver.Overlay.SetNode(nc); err != nil {
			return fmt.Errorf("node %s: overlay: %w", n.Name, err)
		}
	}
	a.node.reg, a.node.def = &reg, def
	a.log.Info("node registered", "node", reg.Name, "index", reg.Index, "underlay", reg.UnderlayAddr, "overlay", reg.OverlayAddr)
	return nil
}

// reconcileNode is a node agent's round. The lease is made sure of first,
// so the fencing rule uses the ID the node's liveness record will carry:
// after a lost lease, the ENIs placed under the old one are removed in
// this round's apply, and only then (in report) is node/<name> written.
func (a *Agent) reconcileNode(ctx context.Context, st *store.State) {
	if a.node.reg == nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := a.register(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("node registration", "err", err)
			}
			return
		}
	}
	if !a.ready.Load() {
		a.prune(ctx)
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	fresh, err := a.ensureLease(lctx)
	cancel()
	if err != nil && ctx.Err() == nil {
		a.log.Warn("node lease", "err", err) // static stability: serve with the lease we had
	}
	if fresh {
		a.node.fresh = true
		a.log.Info("node lease granted: ENIs placed under an earlier lease are not served until placed under this one", "lease", a.lease.ID())
	}
	lease := a.lease.ID()
	d := a.inc.compute(nodeScope(st, a.cfg.Zone, a.cfg.Node.Name, a.node.def, lease), nodeScopeKey(a.cfg.Zone, a.cfg.Node.Name, a.node.def, lease), st)
	if !a.ready.Load() {
		a.stepDown(d)
	}
	// VPC copies and their overlays come before ENIs and listeners: an ENI
	// answering before its node's copy of the provider VPC reaches the
	// backends on other nodes would accept connections and reset them
	// (TestNodesENIArrivesReady). The second pass announces the ENIs this
	// round added.
	a.ensureVPCs(d)
	a.applyOverlay(st, d)
	errs := a.apply(d)
	a.applyOverlay(st, d)
	a.finish(ctx, st, d, errs)
}

// applyOverlay gives every VPC copy of the node its VXLAN device and
// exactly the forwarding entries overlay.Compute derives (only when they
// changed), and announces ENIs that arrived.
func (a *Agent) applyOverlay(st *store.State, d *desired) {
	if a.node.reg == nil || !a.node.reg.UnderlayAddr.IsValid() {
		return
	}
	ov := a.cfg.Driver.Overlay
	if peers := underlayPeers(st, a.cfg.Node.Name); fmt.Sprint(peers) != a.node.peers {
		// VXLAN is accepted only from registered nodes (design §3.5).
		if err := ov.SetUnderlayPeers(peers); err != nil {
			a.log.Error("underlay peers", "err", err)
		} else {
			a.node.peers = fmt.Sprint(peers)
		}
	}
	copies := overlay.Compute(st, a.cfg.Node.Name, a.node.def)
	for vpcID, c := range copies {
		if _, held := a.vpcs[vpcID]; !held {
			continue // not made (yet): the next round
		}
		if a.node.overlays[vpcID] != c.VNI {
			if err := ov.EnsureOverlay(vpcID, c.VNI); err != nil {
				a.log.Error("ensure overlay", "vpcId", vpcID, "vni", c.VNI, "err", err)
				continue
			}
			a.node.overlays[vpcID] = c.VNI
			delete(a.node.entries, vpcID)
		}
		sig := store.MustJSON(c.Entries)
		if a.node.entries[vpcID] == sig {
			continue
		}
		if err := ov.SetOverlayEntries(vpcID, c.Entries); err != nil {
			a.log.Error("overlay entries", "vpcId", vpcID, "err", err)
			continue
		}
		a.node.entries[vpcID] = sig
	}
	for vpcID := range a.node.overlays {
		if _, ok := copies[vpcID]; ok {
			continue
		}
		if _, held := a.vpcs[vpcID]; held {
			continue // still held (e.g. its VNI is gone): leave the device
		}
		delete(a.node.overlays, vpcID) // the VPC copy went (or is kept until deleted)
		delete(a.node.entries, vpcID)
	}
	for k := range d.enis {
		if !a.announced[k] && a.enis[k] {
			if err := ov.AnnounceENI(k.VpcID, k.VSwitchID, k.IP); err != nil {
				a.log.Warn("announce ENI", "ip", k.IP, "err", err)
				continue
			}
			a.announced[k] = true
		}
	}
	for k := range a.announced {
		if !a.enis[k] {
			delete(a.announced, k)
		}
	}
}

// nodeLiveness is the node's liveness record, written under its lease
// once per lease, after the first apply under it.
func (a *Agent) nodeLiveness() (string, any) {
	host, _ := os.Hostname()
	mtu := 1500
	if nc, ok := a.cfg.Driver.Overlay.NodeConfig(); ok {
		mtu = nc.VPCMTU
	}
	return a.cfg.Store.NodeKey(a.cfg.Node.Name), model.NodeStatus{Name: a.cfg.Node.Name, LeaseID: a.lease.ID(),
		Version: version(), Hostname: host, Started: a.node.started, Synced: true, Network: a.cfg.Driver.Name, VPCMTU: mtu}
}

// stampReport adds the node and the placement epoch (the eniplace key's
// mod revision, read once per placement value) to a report.
func (a *Agent) stampReport(ctx context.Context, st *store.State, rep *model.ZoneReport) {
	if a.cfg.Node == nil {
		return
	}
	rep.Node = a.cfg.Node.Name
	id := rep.EndpointID + "/" + rep.ZoneID
	p := st.Placement(rep.EndpointID, rep.ZoneID)
	if pe, ok := a.node.epochs[id]; ok && pe.p == p {
		rep.Epoch = pe.epoch
		return
	}
	cur, rev, err := store.Get[model.ENIPlacement](ctx, a.cfg.Store, a.cfg.Store.ENIPlacementKey(rep.EndpointID, rep.ZoneID))
	if err != nil || cur.Node != a.cfg.Node.Name || cur.NodeLease != a.lease.ID() {
		return // moved meanwhile (or unreadable): no epoch, the next round fixes it
	}
	a.node.epochs[id] = placementEpoch{p: p, epoch: rev}
	rep.Epoch = rev
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

func newNodeState() nodeState {
	return nodeState{started: time.Now().UTC().Format(time.RFC3339), overlays: map[string]int{},
		entries: map[string]string{}, epochs: map[string]placementEpoch{}}
}

// A zone's report key is shared by the nodes of the zone: the ENI's
// previous owner must not delete its successor's report, and a report
// overwritten by a node that had not yet seen the move is written again.

// ownReport reports whether the report of an endpoint zone no longer
// served here is still this node's (always, for a zone agent).
func (a *Agent) ownReport(st *store.State, epID string) bool {
	if a.cfg.Node == nil {
		return true
	}
	rep := st.Report(a.cfg.Zone, epID)
	return rep == nil || rep.Node == a.cfg.Node.Name
}

// overwritten reports whether the store holds another node's report, or
// none, where this node wrote want (node mode; a cache that has not yet
// seen the write costs one more write of the same report).
func (a *Agent) overwritten(st *store.State, want model.ZoneReport) bool {
	if a.cfg.Node == nil {
		return false
	}
	rep := st.Report(a.cfg.Zone, want.EndpointID)
	return rep == nil || rep.Node != a.cfg.Node.Name
}

// underlayPeers are the underlay addresses of every other registered node,
// sorted.
func underlayPeers(st *store.State, self string) []netip.Addr {
	peers := []netip.Addr{}
	for name, reg := range st.NodeRegs {
		if name != self && reg.UnderlayAddr.IsValid() {
			peers = append(peers, reg.UnderlayAddr)
		}
	}
	slices.SortFunc(peers, func(a, b netip.Addr) int { return a.Compare(b) })
	return peers
}

// stepDown removes, at the first round, every ENI address on the machine
// this node does not serve now: one left by a previous run of the agent
// whose placement moved, or was made under a lease that is gone (§4.3).
// Apply only removes what this run made, so without this a restarted node
// would keep answering for an ENI another node serves.
func (a *Agent) stepDown(d *desired) {
	drv := a.cfg.Driver.Topology
	inv, err := drv.Inventory()
	if err != nil {
		a.log.Warn("inventory for stepping down", "err", err)
		return
	}
	for _, e := range inv.ENIs {
		if d.enis[eniKey{VpcID: e.VpcID, VSwitchID: e.VSwitchID, IP: e.IP}] {
			continue
		}
		if err := drv.RemoveENI(e.VpcID, e.VSwitchID, e.IP); err != nil {
			a.log.Warn("step down from ENI", "ip", e.IP, "err", err)
			continue
		}
		a.log.Info("stepped down from ENI not placed here under this lease", "ip", e.IP, "vpcId", e.VpcID)
	}
}
