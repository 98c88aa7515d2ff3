package controller

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Placement is the ENI placement controller (docs/design/multinode.md
// §4.1, §4.2): it decides which node of a zone serves each endpoint zone's
// ENI, moves the ENIs of a node whose lease was lost, re-confirms a
// returning node's placements under its new lease, removes placements of
// deleted endpoints and zones, stamps nodes' NotReadySince, and gives VPCs
// created before VNIs existed their VNI. One server runs it at a time
// (leader election); every write is a compare-and-swap anyway.
//
// Only zones with a registered node are placed ("node zones"). A region
// without registered nodes (today's single-machine installs, started
// without --node) gets no placement, no VNI backfill and no readiness
// stamps, and its zones' status still comes from their zone agents. A node
// registered without an underlay address (the server's own node on one
// machine) is placed on like any other: it is then the region's only node.
type Placement struct {
	st    *store.Store
	cache *store.Cache
	log   *slog.Logger
	id    string
	now   func() time.Time

	// lastWrite is the revision of this controller's last write: a state
	// older than it is skipped (the cache delivers the newer one), so the
	// load counts always include what it placed itself.
	lastWrite int64
}

// ElectionTTL is the placement controller's election session lease: a
// dead leader is replaced within about this long.
const ElectionTTL = 3 * time.Second

// writeTimeout bounds one placement write.
const writeTimeout = 5 * time.Second

// NewPlacement returns the placement controller; id names this server in
// the election (diagnostics only).
func NewPlacement(st *store.Store, cache *store.Cache, log *slog.Logger, id string) *Placement {
	return &Placement{st: st, cache: cache, log: log, id: id, now: time.Now}
}

// Run campaigns for the leadership and, while it leads, reconciles after
// every change and every Resync, until ctx ends.
func (c *Placement) Run(ctx context.Context) {
	for ctx.Err() == nil {
		lead, err := c.st.Campaign(ctx, "placement", c.id, ElectionTTL)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("placement controller: campaign", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		c.log.Info("placement controller leading", "id", c.id)
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lead.Lost():
				cancel()
			case <-lctx.Done():
			}
		}()
		c.lastWrite = 0
		c.cache.Loop(lctx, "placement controller", Resync, func(s *store.State) { c.reconcile(lctx, s) })
		cancel()
		lead.Resign()
		if ctx.Err() == nil {
			c.log.Warn("placement controller lost the leadership; campaigning again", "id", c.id)
		}
	}
}

// nodeView is what one round knows about the nodes.
type nodeView struct {
	s     *store.State
	zones map[string]bool // node zones: a registered node
	load  map[string]int  // placements per node
}

func newNodeView(s *store.State) *nodeView {
	v := &nodeView{s: s, zones: map[string]bool{}, load: map[string]int{}}
	for _, reg := range s.NodeRegs {
		v.zones[reg.ZoneID] = true
	}
	for _, p := range s.Placements {
		if p.Node != "" {
			v.load[p.Node]++
		}
	}
	return v
}

// ready reports whether node is a ready node of zone.
func (v *nodeView) ready(node, zone string) bool {
	reg := v.s.NodeRegs[node]
	return reg != nil && reg.ZoneID == zone && v.s.Nodes[node] != nil
}

// pick returns the least loaded ready node of zone other than not (ties
// by name), or "".
func (v *nodeView) pick(zone, not string) string {
	best := ""
	for name := range v.s.NodeRegs {
		if name == not || !v.ready(name, zone) {
			continue
		}
		if best == "" || v.load[name] < v.load[best] || v.load[name] == v.load[best] && name < best {
			best = name
		}
	}
	return best
}

func (c *Placement) reconcile(ctx context.Context, s *store.State) {
	if s.Rev < c.lastWrite {
		return
	}
	v := newNodeView(s)
	if len(v.zones) == 0 && len(s.Placements) == 0 {
		return // no node zones: nothing to place (single-machine rule)
	}
	c.stampNodes(ctx, v)
	eps := make([]*model.Endpoint, 0, len(s.Endpoints))
	for _, ep := range s.Endpoints {
		eps = append(eps, ep)
	}
	slices.SortFunc(eps, func(a, b *model.Endpoint) int { return cmp.Compare(a.EndpointID, b.EndpointID) })
	for _, ep := range eps {
		for _, z := range ep.Zones {
			if v.zones[z.ZoneID] {
				c.place(ctx, v, ep.EndpointID, z.ZoneID)
			}
		}
	}
	c.removeOrphans(ctx, v)
	if len(v.zones) > 0 {
		c.backfillVNIs(ctx, s)
	}
}

// stampNodes sets NotReadySince on nodes that lost their lease and clears
// it on nodes that are ready again.
func (c *Placement) stampNodes(ctx context.Context, v *nodeView) {
	for name, reg := range v.s.NodeRegs {
		ready := v.s.Nodes[name] != nil
		if ready == (reg.NotReadySince == "") {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		var err error
		if ready {
			err = c.st.MarkNodeReady(wctx, name)
		} else {
			err = c.st.MarkNodeNotReady(wctx, name, c.now())
			c.log.Info("node not ready", "node", name, "zoneId", reg.ZoneID)
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			c.log.Debug("stamp node readiness", "node", name, "ready", ready, "err", err)
		}
	}
}

// place creates, moves or re-confirms one endpoint zone's placement.
func (c *Placement) place(ctx context.Context, v *nodeView, epID, zone string) {
	p := v.s.Placement(epID, zone)
	var next model.ENIPlacement
	var epoch int64
	var why string
	switch {
	case p == nil:
		n := c.assign(v, zone, "", "")
		next = model.ENIPlacement{Node: n, Since: c.stamp()}
		if n != "" {
			next.NodeLease = v.s.Nodes[n].LeaseID
		}
		why = "placed"
	case p.Node != "" && v.ready(p.Node, zone):
		lease := v.s.Nodes[p.Node].LeaseID
		if lease == p.NodeLease {
			return
		}
		// The node came back under a new lease and still holds the
		// placement (no other node took it): re-confirm it.
		next, epoch, why = *p, p.Epoch, "re-confirmed"
		next.NodeLease = lease
	default:
		// The node is gone (or has left the zone): move to another ready
		// node; with none, keep naming it, so it gets the ENI back if it
		// returns first.
		n := c.assign(v, zone, p.Node, p.Node)
		if n == "" {
			return
		}
		next = model.ENIPlacement{Node: n, NodeLease: v.s.Nodes[n].LeaseID, Since: c.stamp(), Moves: p.Moves}
		if p.Node != "" {
			next.Moves++
		}
		epoch, why = p.Epoch, "moved"
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	rev, err := c.st.PutPlacement(wctx, epID, zone, epoch, next)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			c.log.Warn("write ENI placement", "endpointId", epID, "zoneId", zone, "err", err)
		}
	case rev == 0:
		c.log.Debug("ENI placement changed underneath; next round", "endpointId", epID, "zoneId", zone)
	default:
		c.lastWrite = max(c.lastWrite, rev)
		from := ""
		if p != nil {
			from = p.Node
		}
		c.log.Info("ENI placement "+why, "endpointId", epID, "zoneId", zone, "node", next.Node, "from", from, "epoch", rev)
	}
}

// assign picks a node for a placement leaving old (counted in its load),
// avoiding not, and moves the load in the view.
func (c *Placement) assign(v *nodeView, zone, not, old string) string {
	n := v.pick(zone, not)
	if n != "" {
		v.load[n]++
		if old != "" {
			v.load[old]--
		}
	}
	return n
}

func (c *Placement) stamp() string { return c.now().UTC().Format(time.RFC3339) }

// removeOrphans deletes placements whose endpoint, endpoint zone or node
// zone is gone.
func (c *Placement) removeOrphans(ctx context.Context, v *nodeView) {
	for id, p := range v.s.Placements {
		epID, zone, _ := store.SplitPlacementID(id)
		ep := v.s.Endpoints[epID]
		if ep == nil && v.s.Bad(store.KindEndpoint, epID) {
			continue // a bad record is not a deleted one
		}
		if ep != nil && v.zones[zone] && hasZone(ep, zone) {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		rev, err := c.st.DeletePlacement(wctx, epID, zone, p.Epoch)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("remove ENI placement", "endpointId", epID, "zoneId", zone, "err", err)
			}
			continue
		}
		if rev != 0 {
			c.lastWrite = max(c.lastWrite, rev)
			c.log.Info("ENI placement removed", "endpointId", epID, "zoneId", zone, "node", p.Node)
		}
	}
}

func hasZone(ep *model.Endpoint, zone string) bool {
	for _, z := range ep.Zones {
		if z.ZoneID == zone {
			return true
		}
	}
	return false
}

// backfillVNIs gives every VPC without a VNI one.
func (c *Placement) backfillVNIs(ctx context.Context, s *store.State) {
	for id, vpc := range s.VPCs {
		if vpc.VNI != 0 {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		vni, err := c.st.BackfillVNI(wctx, id)
		cancel()
		switch {
		case err != nil:
			if ctx.Err() == nil {
				c.log.Warn("VNI backfill", "vpcId", id, "err", err)
			}
		case vni != 0:
			c.log.Info("VNI backfilled", "vpcId", id, "vni", vni)
		}
	}
}
