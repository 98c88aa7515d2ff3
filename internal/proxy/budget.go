package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// Budget is the data plane's share of the process's file descriptors and
// the registry of per-endpoint limits drawn from it. One Budget serves
// every Listener of a process (WithBudget; DefaultBudget otherwise).
//
// Accounting, all with atomic counters (no lock per connection): an
// admitted connection holds connFDs (its consumer and backend sockets)
// from admission to close, a splice pipe 2 while a direction holds it.
// A new connection is refused (RST, counted with reason "fd_budget") when
//   - its endpoint would hold more than EndpointCap connections (a quarter
//     of the budget by default, SetEndpointShare), or
//   - the budget would be exceeded, or
//   - more than three quarters are in use and its endpoint already holds
//     SmallEndpoint connections (1/64 of the budget): the last quarter is
//     kept for endpoints holding few connections, so a flood on one or a
//     few endpoints leaves the others room to connect.
//
// A pipe the budget cannot pay for is not taken: that direction copies
// through the loop's buffer instead of splicing.
type Budget struct {
	fds   int64 // descriptors the data plane may hold
	soft  int64 // above it, only small endpoints get new connections
	epCap int64 // connections one endpoint may hold
	small int64 // connections below which an endpoint is small
	used  atomic.Int64

	mu  sync.Mutex
	eps map[string]*endpoint
}

const (
	// connFDs is what an admitted connection costs: consumer and backend
	// sockets.
	connFDs = 2
	// DefaultReserveFDs are the descriptors left out of the budget for the
	// API, the console, etcd (files, peers, clients), DNS, health checks,
	// netdrv's socket batches and logs.
	DefaultReserveFDs = 1024
)

// NewBudget returns a Budget of fds descriptors (at least 8).
func NewBudget(fds int) *Budget {
	f := int64(max(fds, 8))
	conns := f / connFDs
	return &Budget{fds: f, soft: f * 3 / 4, epCap: max(conns/4, 1), small: max(conns/64, 1), eps: map[string]*endpoint{}}
}

// DefaultEndpointShare is the fraction of a Budget one endpoint may hold.
const DefaultEndpointShare = 0.25

// SetEndpointShare sets the fraction of the budget one endpoint may hold
// (0 < f <= 1; 1 lets a single endpoint use it all, e.g. a benchmark).
// The part kept for small endpoints shrinks to min(1/4, 1-f) of the
// budget. Call it before any Listener uses b.
func (b *Budget) SetEndpointShare(f float64) {
	if f > 0 && f <= 1 {
		b.epCap = max(int64(f*float64(b.fds/connFDs)), 1)
		b.soft = b.fds - min(b.fds/4, int64((1-f)*float64(b.fds)))
	}
}

// FDs is the number of descriptors the data plane may hold.
func (b *Budget) FDs() int { return int(b.fds) }

// InUse is the number of descriptors held now.
func (b *Budget) InUse() int { return int(b.used.Load()) }

// EndpointCap is the number of connections one endpoint may hold.
func (b *Budget) EndpointCap() int { return int(b.epCap) }

var (
	defaultBudgetOnce sync.Once
	defaultBudget     *Budget
)

// DefaultBudget is the process-wide Budget of Listeners created without
// WithBudget: BudgetFromRlimit(DefaultReserveFDs), computed on first use.
func DefaultBudget() *Budget {
	defaultBudgetOnce.Do(func() {
		defaultBudget, _ = BudgetFromRlimit(DefaultReserveFDs)
	})
	return defaultBudget
}

// verdict is the outcome of admission.
type verdict uint8

const (
	admitted verdict = iota
	refusedConnLimit
	refusedRateLimit
	refusedFDBudget
	revokedSG // a live connection the security group no longer allows
	nVerdicts
)

// reasons are the reason label values of privlink_proxy_rejected_total.
var reasons = [nVerdicts]string{refusedConnLimit: "conn_limit", refusedRateLimit: "rate_limit",
	refusedFDBudget: "fd_budget", revokedSG: "sg_revoked"}

// admit decides whether ep may take one more connection now; if so the
// connection holds its descriptors and a place in ep until done.
func (b *Budget) admit(ep *endpoint, now time.Time) verdict {
	n := ep.conns.Add(1)
	if m := ep.maxConns.Load(); m > 0 && n > m {
		ep.conns.Add(-1)
		return refusedConnLimit
	}
	if n > b.epCap {
		ep.conns.Add(-1)
		return refusedFDBudget
	}
	if !ep.rate.allow(nanos(now), 1) {
		ep.conns.Add(-1)
		return refusedRateLimit
	}
	if used := b.used.Add(connFDs); used > b.fds || (used > b.soft && n > b.small) {
		b.used.Add(-connFDs)
		ep.conns.Add(-1)
		return refusedFDBudget
	}
	return admitted
}

// done releases what admit took.
func (b *Budget) done(ep *endpoint) {
	ep.conns.Add(-1)
	b.used.Add(-connFDs)
}

// takeFDs takes n descriptors if the budget has them.
func (b *Budget) takeFDs(n int) bool {
	if b.used.Add(int64(n)) > b.fds {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

func (b *Budget) putFDs(n int) { b.used.Add(-int64(n)) }

// endpoint is the state one endpoint's Listeners share (every port, every
// zone served by this process): its connection count, its limits, its
// new-connection and bandwidth buckets.
type endpoint struct {
	id       string
	refs     int // Listeners holding it; under Budget.mu
	conns    atomic.Int64
	maxConns atomic.Int64 // 0 = the budget's cap only
	rate     bucket       // new connections per second
	in, out  bucket       // bytes per second, consumer->backend and back
}

// endpoint returns id's shared state, creating it on first use; release
// it when the Listener no longer uses it.
func (b *Budget) endpoint(id string) *endpoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.eps[id]
	if e == nil {
		e = &endpoint{id: id}
		b.eps[id] = e
	}
	e.refs++
	return e
}

func (b *Budget) release(e *endpoint) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.refs--; e.refs == 0 && b.eps[e.id] == e {
		delete(b.eps, e.id)
	}
}

// configure applies cfg's limits to the endpoint; the Listeners of one
// endpoint carry the same limits (they come from its service), the last
// configured wins.
func (e *endpoint) configure(cfg Config) {
	e.maxConns.Store(int64(max(cfg.MaxConns, 0)))
	if r := cfg.NewConnsPerSec; r > 0 {
		e.rate.set(float64(r), r) // burst: one second's worth
	} else {
		e.rate.set(0, 0)
	}
	if cfg.BandwidthMbps > 0 {
		bps := float64(cfg.BandwidthMbps) * 1e6 / 8
		// Allow ~100ms of burst, but never less than one copy buffer.
		burst := max(int(bps/10), copyBufSize)
		e.in.set(bps, burst)
		e.out.set(bps, burst)
	} else {
		e.in.set(0, 0)
		e.out.set(0, 0)
	}
}
