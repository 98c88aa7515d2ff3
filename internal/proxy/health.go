package proxy

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// healthCheckConcurrency bounds the number of probes in flight per Health.
const healthCheckConcurrency = 64

// Health tracks backend health with periodic TCP connect checks through a
// DialFunc. A backend is healthy until a check fails (optimistic), and
// healthy again after the next successful check. Dial failures on the data
// path mark a tracked backend down at once (passive check); the next active
// check decides again.
//
// Healthy is lock-free and cheap: it looks the address up in an immutable
// set of down backends that is replaced (copy-on-write) when health changes.
// A nil *Health reports every backend healthy.
type Health struct {
	dial     DialFunc
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	targets map[netip.AddrPort]struct{}                 // guarded by mu
	checks  map[netip.AddrPort]Check                    // last check per target; guarded by mu
	down    atomic.Pointer[map[netip.AddrPort]struct{}] // written under mu

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewHealth starts a health checker probing every interval; each probe is a
// TCP connect through dial bounded by timeout; health changes are logged to
// log (nil: slog's default). Call Close to stop it.
func NewHealth(dial DialFunc, interval, timeout time.Duration, log *slog.Logger) *Health {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if timeout <= 0 {
		timeout = min(interval, 2*time.Second)
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Health{
		dial:     dial,
		interval: interval,
		timeout:  timeout,
		log:      log.With("component", "proxy-health"),
		targets:  map[netip.AddrPort]struct{}{},
		checks:   map[netip.AddrPort]Check{},
		kick:     make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	empty := map[netip.AddrPort]struct{}{}
	h.down.Store(&empty)
	go h.run()
	return h
}

// Track replaces the set of checked addresses. Addresses new to the set are
// healthy until checked; a check round starts promptly. Addresses dropped
// from the set forget their state.
func (h *Health) Track(addrs []netip.AddrPort) {
	h.mu.Lock()
	targets := make(map[netip.AddrPort]struct{}, len(addrs))
	for _, a := range addrs {
		targets[a] = struct{}{}
	}
	if maps.Equal(targets, h.targets) {
		h.mu.Unlock()
		return // same set: the periodic rounds go on; no extra probe
	}
	h.targets = targets
	for a := range h.checks {
		if _, ok := targets[a]; !ok {
			delete(h.checks, a)
		}
	}
	old := *h.down.Load()
	down := make(map[netip.AddrPort]struct{}, len(old))
	for a := range old {
		if _, ok := targets[a]; ok {
			down[a] = struct{}{}
		}
	}
	h.down.Store(&down)
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Healthy reports whether a is believed reachable. Unknown and never-checked
// addresses are healthy.
func (h *Health) Healthy(a netip.AddrPort) bool {
	if h == nil {
		return true
	}
	_, down := (*h.down.Load())[a]
	return !down
}

// Check is the outcome of the last check of a backend.
type Check struct {
	Healthy bool
	Latency time.Duration // connect time (until the failure, for a failed check)
	Time    time.Time     // when the check ended; zero: not checked yet
	Err     string        // why it failed
	Passive bool          // a data-path dial failure, not a probe
}

// LastCheck returns the last check of a tracked address (ok false when it
// is not tracked or not checked yet).
func (h *Health) LastCheck(a netip.AddrPort) (Check, bool) {
	if h == nil {
		return Check{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.checks[a]
	return c, ok
}

// Close stops the checker and waits for it to exit.
func (h *Health) Close() {
	if h == nil {
		return
	}
	h.once.Do(h.cancel)
	<-h.done
}

// markDown records a data-path dial failure for a tracked address.
func (h *Health) markDown(a netip.AddrPort) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.targets[a]; !ok {
		return
	}
	h.checks[a] = Check{Time: time.Now(), Err: "a connection's dial failed", Passive: true}
	h.setLocked(map[netip.AddrPort]bool{a: false})
}

// setLocked applies results (address -> healthy) for tracked addresses.
func (h *Health) setLocked(results map[netip.AddrPort]bool) {
	old := *h.down.Load()
	changed := false
	for a, ok := range results {
		if _, tracked := h.targets[a]; !tracked {
			continue
		}
		if _, wasDown := old[a]; wasDown == !ok {
			continue
		}
		changed = true
		h.log.Info("backend health changed", "addr", a, "healthy", ok)
	}
	if !changed {
		return
	}
	down := make(map[netip.AddrPort]struct{}, len(old)+1)
	for a := range old {
		down[a] = struct{}{}
	}
	for a, ok := range results {
		if _, tracked := h.targets[a]; !tracked {
			continue
		}
		if ok {
			delete(down, a)
		} else {
			down[a] = struct{}{}
		}
	}
	h.down.Store(&down)
}

func (h *Health) run() {
	defer close(h.done)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.kick:
		case <-t.C:
		}
		h.round()
	}
}

// round probes every tracked address concurrently and applies the results.
func (h *Health) round() {
	h.mu.Lock()
	addrs := make([]netip.AddrPort, 0, len(h.targets))
	for a := range h.targets {
		addrs = append(addrs, a)
	}
	h.mu.Unlock()
	if len(addrs) == 0 {
		return
	}
	started := time.Now()
	results := make(map[netip.AddrPort]bool, len(addrs))
	checks := make(map[netip.AddrPort]Check, len(addrs))
	var (
		rmu sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, healthCheckConcurrency)
	)
	for _, a := range addrs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c := h.probe(a)
			rmu.Lock()
			results[a], checks[a] = c.Healthy, c
			rmu.Unlock()
		}()
	}
	wg.Wait()
	if h.ctx.Err() != nil {
		return // results of an interrupted round are meaningless
	}
	h.mu.Lock()
	for a, c := range checks {
		if prev, ok := h.checks[a]; ok && prev.Passive && prev.Time.After(started) {
			// A connection failed after this probe began: its news is
			// newer than the probe's, which must not mark it healthy again.
			delete(results, a)
			continue
		}
		if _, tracked := h.targets[a]; tracked {
			h.checks[a] = c
		}
	}
	h.setLocked(results)
	h.mu.Unlock()
}

func (h *Health) probe(a netip.AddrPort) Check {
	ctx, cancel := context.WithTimeout(h.ctx, h.timeout)
	defer cancel()
	start := time.Now()
	c, err := h.dial(ctx, a)
	end := time.Now()
	if err != nil {
		h.log.Debug("health probe failed", "addr", a, "err", err)
		return Check{Latency: end.Sub(start), Time: end, Err: err.Error()}
	}
	// Reset instead of FIN: probes must not leave TIME_WAIT sockets behind.
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
	return Check{Healthy: true, Latency: end.Sub(start), Time: end}
}
