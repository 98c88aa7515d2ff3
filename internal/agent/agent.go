package agent

import (
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privlink/privlink/internal/handoff"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/store"
)

// Config configures one zone agent.
type Config struct {
	Zone    string
	Store   *store.Store
	Cache   *store.Cache // shared list+watch cache; the caller runs it
	Driver  netdrv.Driver
	Metrics *proxy.Metrics
	Logger  *slog.Logger
	// LeaseTTL is how long reports outlive a dead agent (default 3s).
	LeaseTTL time.Duration
	// Budget is the process's data-plane descriptor budget, shared by
	// every agent of the process so that an endpoint's limits count all
	// its zones here (nil: proxy.DefaultBudget()).
	Budget *proxy.Budget
	// MaxConnsPerEndpoint and NewConnsPerSecond apply to the endpoints of
	// services that set none (0 = no limit but the budget's share).
	MaxConnsPerEndpoint, NewConnsPerSecond int
	// TrafficEvery is how often traffic reports are written (default
	// DefaultTrafficEvery); samples are taken at every reconcile.
	TrafficEvery time.Duration
	// Node makes the agent a node agent (node.go); nil is a zone agent.
	Node *NodeConfig
	// KeepKernelNAT leaves the kernel NAT flows in place at shutdown
	// instead of withdrawing them: nat endpoints keep serving while the
	// process restarts, and the next process adopts the flows without
	// reprogramming them (nathub.go, knat adoption). The server sets it;
	// an agent stopped on its own (false) withdraws its flows like the
	// proxy closes its listeners.
	KeepKernelNAT bool
	// AdoptLease is the lease of a predecessor that handed over (package
	// handoff; 0: none): it is resumed instead of a new one granted, so
	// the predecessor's reports stay and only those that differ are
	// written again.
	AdoptLease int64
	// DrainTimeout is how long the agent, after handing over, lets its
	// open connections run before it closes them (default
	// DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Keeper, if set, is the socket keeper this process runs under
	// (package keeper): every listening socket opened or closed, and each
	// new lease, is reported to it (keeper.go).
	Keeper handoff.Keeper
}

// Agent serves one zone.
type Agent struct {
	cfg Config
	log *slog.Logger

	ready atomic.Bool
	done  chan struct{}

	// actual state, touched only by the run goroutine
	vpcs      map[string]string
	kept      map[string]int64 // VPC namespaces on the machine not wanted by this zone, removed once the VPC is deleted: the store revision it was last seen at
	vswitches map[string]vswitch
	hosts     map[string]netdrv.Host
	enis      map[eniKey]bool
	found     map[eniKey]bool // ENIs the start-up inventory found in place (prune.go), taken by the first apply
	listeners map[listenerKey]*running
	udp       udpState // UDP ports (udp.go)
	reported  map[string]model.ZoneReport
	served    map[string]eniKey        // endpoint zones served at the last apply
	eniInfo   map[string][2]netip.Addr // endpoint -> ENI addresses last put in the metrics (dualstack.go)

	healthMu sync.Mutex
	health   map[string]*proxy.Health // per provider VPC ("" = host network)

	lease *store.Lease // liveness and reports; lost with the agent

	traffic  trafficState             // touched only by the run goroutine
	inc      *incremental             // the desired state, patched round after round (incremental.go); run goroutine only
	natFlows map[listenerKey]*natMemo // kernel flows of the last round (nat.go); run goroutine only
	natDelta *natDelta                // what applyNAT's rounds after a full one patch (nat_delta.go); run goroutine only

	roundMu   sync.Mutex  // held by a round, and by a handoff from Freeze to Resume or Release (handoff.go)
	released  atomic.Bool // handed over: no round runs again
	keepLease atomic.Bool // shutdown abandons the lease instead of revoking it (KeepLease)
	adopting  bool        // AdoptLease: the first report adopts the predecessor's; run goroutine only
	leaseNew  bool        // resumeLease found the adopted lease gone and was granted one; run goroutine only
	keptLease int64       // the lease last reported to Config.Keeper; run goroutine only

	node      nodeState       // node mode only (node.go)
	announced map[eniKey]bool // ENIs announced with a gratuitous ARP (node mode)
}

type running struct {
	spec listenerSpec
	l    *proxy.Listener
	done chan struct{}
}

// New returns an agent; Run starts it.
func New(cfg Config) *Agent {
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 3 * time.Second
	}
	if cfg.TrafficEvery <= 0 {
		cfg.TrafficEvery = DefaultTrafficEvery
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.Metrics == nil {
		cfg.Metrics = proxy.NewMetrics(nil) // unregistered: the traffic reports still need the counters
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("zone", cfg.Zone), done: make(chan struct{}),
		vpcs: map[string]string{}, kept: map[string]int64{}, vswitches: map[string]vswitch{}, hosts: map[string]netdrv.Host{},
		enis: map[eniKey]bool{}, listeners: map[listenerKey]*running{}, reported: map[string]model.ZoneReport{},
		health: map[string]*proxy.Health{}, lease: cfg.Store.NewLease(cfg.LeaseTTL),
		node: newNodeState(), announced: map[eniKey]bool{}, inc: newIncremental(changesOf(cfg.Cache))}
	if cfg.AdoptLease != 0 {
		a.lease.Adopt(cfg.AdoptLease)
		a.adopting = true
	}
	return a
}

// Ready reports whether the agent completed its first full sync and apply.
func (a *Agent) Ready() bool { return a.ready.Load() }

// Done is closed when Run has returned and every listener is closed.
func (a *Agent) Done() <-chan struct{} { return a.done }

// Run serves until ctx ends, then closes every listener and revokes its
// lease (so its reports vanish at once). The namespaces and ENIs stay: they
// are the machine's state, owned by the control plane, not by this process.
func (a *Agent) Run(ctx context.Context) error {
	defer close(a.done)
	defer a.shutdown()
	a.resumeLease(ctx)
	a.cfg.Cache.Loop(ctx, "agent "+a.cfg.Zone, 2*time.Second, func(st *store.State) { a.reconcile(ctx, st) })
	return nil
}

func (a *Agent) reconcile(ctx context.Context, st *store.State) {
	a.roundMu.Lock()
	defer a.roundMu.Unlock()
	if a.released.Load() {
		return
	}
	if a.cfg.Node != nil {
		a.reconcileNode(ctx, st)
		return
	}
	if !a.ready.Load() {
		a.prune(ctx)
	}
	d := a.inc.compute(zoneScope(a.cfg.Zone), "zone/"+a.cfg.Zone, st)
	a.finish(ctx, st, d, a.apply(d))
}

// finish marks the first sync and writes the reports of a round.
func (a *Agent) finish(ctx context.Context, st *store.State, d *desired, errs map[string]error) {
	if !a.ready.Load() {
		a.ready.Store(true)
		a.log.Info("zone agent synced", "rev", st.Rev, "listeners", len(a.listeners), "enis", len(a.enis))
	}
	if err := a.report(ctx, st, d, errs); err != nil {
		if ctx.Err() == nil {
			a.log.Warn("report status", "err", err)
		}
		return
	}
	if err := a.reportTraffic(ctx, d, time.Now()); err != nil && ctx.Err() == nil {
		a.log.Warn("report traffic", "err", err)
	}
}

// report keeps the agent key and one report per served endpoint zone under
// the agent's lease; a lost lease (etcd unreachable, agent stopped) makes
// them expire, which withdraws the zone.
func (a *Agent) report(ctx context.Context, state *store.State, d *desired, errs map[string]error) error {
	st := a.cfg.Store
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	fresh, err := a.ensureLease(cctx)
	if err != nil {
		return err
	}
	if fresh && a.cfg.Node != nil {
		// Lost between this round's apply and now: the next round applies
		// under the new lease before the node says it is ready (§4.3).
		a.node.fresh = true
		return nil
	}
	writes := map[string]any{}
	adopted := a.adopting && !fresh
	a.adopting = false
	if adopted {
		a.adoptReports(state)
	} else if fresh || a.node.fresh {
		a.reported = map[string]model.ZoneReport{}
	}
	if fresh || a.node.fresh || adopted {
		a.traffic.leaseRenewed(time.Now())
		host, _ := os.Hostname()
		if a.cfg.Node != nil {
			k, v := a.nodeLiveness() // after this round's apply under the lease (§4.3)
			writes[k] = v
		} else {
			writes[st.AgentKey(a.cfg.Zone)] = model.AgentInfo{ZoneID: a.cfg.Zone, Hostname: host,
				Started: time.Now().UTC().Format(time.RFC3339), Synced: true, Network: a.cfg.Driver.Name}
		}
	}
	want := map[string]model.ZoneReport{}
	for epID := range d.zones {
		rep := model.ZoneReport{EndpointID: epID, ZoneID: a.cfg.Zone, Ready: true}
		rep.Healthy, rep.Backends = a.backendHealth(d, epID)
		if err := errs[epID]; err != nil {
			rep.Ready, rep.Error = false, err.Error()
		}
		a.stampReport(cctx, state, &rep)
		want[epID] = rep
		if !sameReport(a.reported[epID], rep) || a.overwritten(state, rep) {
			writes[st.ReportKey(a.cfg.Zone, epID)] = rep
		}
	}
	for epID := range a.reported {
		if _, ok := want[epID]; !ok && a.ownReport(state, epID) {
			writes[st.ReportKey(a.cfg.Zone, epID)] = nil
		}
	}
	if err := a.lease.Write(cctx, writes); err != nil {
		return err
	}
	a.node.fresh = false
	a.reported = want
	return nil
}

// backendHealth reports each backend of an endpoint zone as checked from
// here, and whether at least one is healthy (true when it has no listener).
func (a *Agent) backendHealth(d *desired, epID string) (bool, map[string]bool) {
	any, seen := false, false
	var m map[string]bool
	for _, port := range d.ports[epID] {
		sp := d.listeners[listenerKey{EndpointID: epID, Port: port}]
		seen = true
		h := a.healthFor(sp.svcVPC)
		for _, b := range sp.cfg.Backends {
			ok := h.Healthy(b.Addr)
			if m == nil {
				m = map[string]bool{}
			}
			m[b.Addr.String()] = ok
			any = any || ok
		}
	}
	return any || !seen, m
}

func sameReport(a, b model.ZoneReport) bool {
	return a.EndpointID == b.EndpointID && a.ZoneID == b.ZoneID && a.Ready == b.Ready && a.Healthy == b.Healthy &&
		a.Error == b.Error && maps.Equal(a.Backends, b.Backends) && a.Node == b.Node && a.Epoch == b.Epoch
}

func (a *Agent) healthFor(vpcID string) *proxy.Health {
	a.healthMu.Lock()
	defer a.healthMu.Unlock()
	h := a.health[vpcID]
	if h == nil {
		drv := a.cfg.Driver.Sockets
		h = proxy.NewHealth(func(ctx context.Context, addr netip.AddrPort) (netConn, error) {
			return drv.Dial(ctx, vpcID, addr)
		}, 2*time.Second, time.Second, a.log)
		a.health[vpcID] = h
	}
	return h
}

func (a *Agent) shutdown() {
	if a.released.Load() {
		a.drain()
	}
	a.stopNAT()
	if n := len(a.listeners); n > 0 {
		for k, r := range a.listeners {
			a.closeListener(k, r)
		}
		a.log.Info("listeners down", "count", n)
	}
	a.stopUDP()
	a.healthMu.Lock()
	for _, h := range a.health {
		h.Close()
	}
	a.healthMu.Unlock()
	if a.keepLease.Load() {
		a.lease.Abandon()
	}
	a.lease.Drop()
	a.ready.Store(false)
}
