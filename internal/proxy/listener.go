package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Listener serves one net.Listener: every accepted consumer connection is
// checked against Config.Allow and proxied to a backend.
type Listener struct {
	ln      net.Listener
	laddr   netip.AddrPort // ln's address
	dial    DialFunc
	sockets SocketFunc // non-nil: serve on the event-loop engine (Linux)
	health  *Health
	metrics *Metrics
	budget  *Budget
	log     *slog.Logger

	st       atomic.Pointer[state]
	updateMu sync.Mutex    // serialises Update, and Update with Close's release of the endpoint share
	released bool          // Close released the endpoint share; under updateMu
	updated  chan struct{} // wakes the sweeper after Update
	jobs     chan job      // hands work to idle pooled goroutines
	rr       atomic.Uint64 // round-robin cursor
	active   atomic.Int64
	// lnKeepAlive: accepted sockets inherit keepalive from the listening
	// socket, so only backend sockets need checking.
	lnKeepAlive bool
	warnNext    atomic.Int64 // unix nanos before which warnings are suppressed
	firstBytes  firstBytes   // engine: does reading before the dial pay off (fastopen_linux.go)

	ctx    context.Context // cancelled by Close: aborts dials and rate waits
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	serving bool
	conns   map[*pconn]struct{} // established proxied connections
	wg      sync.WaitGroup      // Serve, sweeper and pooled connection goroutines
	eng     *engine             // set while the engine serves ln's socket
	lfd     int                 // the engine's copy of ln's socket
}

// SocketFunc creates a non-blocking TCP socket in the provider's network
// for dialing addr and returns it with the address to connect it to (addr,
// or where addr is reachable from that network). The caller owns fd.
type SocketFunc func(addr netip.AddrPort) (fd int, to netip.AddrPort, err error)

// Option configures a Listener.
type Option func(*Listener)

// WithSockets makes the Listener proxy on the event-loop engine (Linux)
// and create backend sockets with fn; dial is then used only off Linux.
// Without it every connection runs on goroutines and dials with dial.
func WithSockets(fn SocketFunc) Option { return func(l *Listener) { l.sockets = fn } }

// WithBudget makes the Listener draw its descriptors and its endpoint's
// shared limits from b (default: DefaultBudget()). Every Listener of an
// endpoint must use the same Budget for the endpoint's limits to be shared.
func WithBudget(b *Budget) Option { return func(l *Listener) { l.budget = b } }

// ListenConfig returns the recommended net.ListenConfig for endpoint
// listeners. It leaves keepalive to the listening socket, which NewListener
// configures and Linux copies to accepted sockets, saving Go's four
// setsockopt calls per accepted connection. Set Control to add socket
// options (e.g. IP_FREEBIND) as needed.
func ListenConfig() net.ListenConfig { return net.ListenConfig{KeepAlive: -1} }

// NewListener returns a Listener proxying connections accepted on ln
// according to cfg. dial reaches backends; health may be nil (every backend
// healthy) and so may m (no metrics). Call Serve to start accepting.
func NewListener(ln net.Listener, cfg Config, dial DialFunc, health *Health, m *Metrics, opts ...Option) *Listener {
	ctx, cancel := context.WithCancel(context.Background())
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	l := &Listener{
		ln:      ln,
		laddr:   addrPort(ln.Addr()),
		dial:    dial,
		health:  health,
		metrics: m,
		log: log.With("component", "proxy", "listen", ln.Addr().String(),
			"endpoint_id", cfg.EndpointID, "zone_id", cfg.ZoneID),
		updated: make(chan struct{}, 1),
		jobs:    make(chan job),
		ctx:     ctx,
		cancel:  cancel,
		conns:   make(map[*pconn]struct{}),
	}
	for _, o := range opts {
		o(l)
	}
	if l.budget == nil {
		l.budget = DefaultBudget()
	}
	l.lnKeepAlive = setListenerKeepAlive(ln)
	l.st.Store(compile(cfg, m, nil, l.budget, l.log))
	return l
}

// Start serves l without a goroutine of the caller's when it can: if l
// runs on the event-loop engine (WithSockets, Linux, a TCP listener) it
// hands the socket to the engine and returns true; l then serves until
// Close, and Serve must not be called. Otherwise it does nothing and
// returns false: l needs Serve's accept loop, on a goroutine of the
// caller's. With thousands of listeners this saves a parked goroutine
// each. An error (with true) means the engine refused the socket: Close l.
func (l *Listener) Start() (bool, error) {
	started, errs := StartMany([]*Listener{l})
	if started[0] && errs[0] == nil {
		l.log.Info("proxy listener serving", "engine", "epoll")
	}
	return started[0], errs[0]
}

// startable is nil if l may be started (neither served, started nor
// closed). Called with l.mu held.
func (l *Listener) startable() error {
	if l.closed || l.serving {
		return errors.New("proxy: Start after Serve, Start or Close")
	}
	return nil
}

// Serve accepts connections until Close is called, then returns nil. It
// returns an error if accepting fails permanently (live connections keep
// running until Close) or if Serve was already called.
func (l *Listener) Serve() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	if l.serving {
		l.mu.Unlock()
		return errors.New("proxy: Serve called twice")
	}
	l.serving = true
	if ok, err := l.startEngine(); ok || err != nil {
		l.mu.Unlock()
		if err != nil {
			return err
		}
		l.log.Info("proxy listener serving", "engine", "epoll")
		<-l.ctx.Done()
		return nil
	}
	l.wg.Add(2) // this accept loop and the sweeper
	l.mu.Unlock()
	defer l.wg.Done()
	go l.sweep()

	l.log.Info("proxy listener serving")
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() {
				return nil
			}
			if !isTemporary(err) {
				l.log.Error("accept failed", "err", err)
				return fmt.Errorf("proxy: accept on %s: %w", l.ln.Addr(), err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.warn("accept failed, retrying", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-l.ctx.Done():
			}
			continue
		}
		backoff = 0
		l.accepted(c)
	}
}

// accepted runs the security-group check and the endpoint's limits on the
// accept goroutine, so that rejected connections never cost a goroutine,
// and hands admitted ones to a pooled connection goroutine.
func (l *Listener) accepted(c net.Conn) {
	st := l.st.Load()
	src, dst := connAddrs(c)
	if !st.allow(src, dst.Port()) {
		st.met.sgDrop()
		reset(c)
		if l.log.Enabled(context.Background(), slog.LevelDebug) {
			l.log.Debug("security group rejected connection", "src", src, "dst", dst)
		}
		return
	}
	if v := l.budget.admit(st.ep, time.Now()); v != admitted {
		st.met.reject(v)
		reset(c)
		l.warn("connection refused by a limit", "reason", reasons[v], "src", src)
		return
	}
	l.run(job{client: c, st: st, src: src, dst: dst})
}

// reset closes c so that the peer sees a reset, not an orderly close.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// handle proxies one admitted consumer connection. It copies
// consumer->backend itself and runs backend->consumer on one more (pooled)
// goroutine.
func (l *Listener) handle(client net.Conn, st *state, src, dst netip.AddrPort) {
	l.active.Add(1)
	st.met.connOpened()
	defer func() {
		l.active.Add(-1)
		st.met.connClosed()
		l.budget.done(st.ep)
	}()

	backend, err := l.dialBackend(st)
	if err != nil {
		_ = client.Close()
		if l.ctx.Err() == nil {
			l.warn("no backend reachable, closing consumer connection", "src", src, "err", err)
		}
		return
	}
	c := newConn(l, st, client, backend)
	c.src, c.dst = src, dst
	if !l.register(c) {
		c.close()
		return
	}
	defer l.deregister(c)
	// An Update may have come between accept and register: its re-check
	// did not see c.
	if cur := l.st.Load(); cur != st && !cur.allow(src, dst.Port()) {
		c.revoke(cur)
		return
	}
	if !l.lnKeepAlive {
		ensureKeepAlive(c.ctcp)
	}
	ensureKeepAlive(c.btcp)

	if st.cfg.ProxyProtocol {
		// The header goes out in a write of its own; the payload is then
		// spliced as usual.
		hdr := appendProxyHeader(make([]byte, 0, 52+len(st.tlvs)), src, dst, st.tlvs)
		if _, err := backend.Write(hdr); err != nil {
			l.log.Debug("write PROXY header", "backend", backend.RemoteAddr(), "err", err)
			c.close()
			return
		}
	}

	c.outDone.Add(1)
	l.run(job{out: c})
	c.copyIn()
	c.outDone.Wait()
	c.close()
}

// dialBackend tries up to MaxDialAttempts candidate backends in order.
func (l *Listener) dialBackend(st *state) (net.Conn, error) {
	var cands [MaxDialAttempts]netip.AddrPort
	n := st.candidates(l.health, l.rr.Add(1)-1, &cands)
	if n == 0 {
		return nil, errors.New("proxy: no backends configured")
	}
	var errs []error
	for _, a := range cands[:n] {
		ctx, cancel := context.WithTimeout(l.ctx, DialTimeout)
		c, err := l.dial(ctx, a)
		cancel()
		if err == nil {
			return c, nil
		}
		if l.ctx.Err() != nil {
			return nil, fmt.Errorf("proxy: dial backend %s: listener closed: %w", a, err)
		}
		st.met.dialFailure()
		l.health.markDown(a)
		l.log.Debug("backend dial failed", "backend", a, "err", err)
		errs = append(errs, fmt.Errorf("dial backend %s: %w", a, err))
	}
	return nil, fmt.Errorf("proxy: all %d backend attempts failed: %w", n, errors.Join(errs...))
}

// Update atomically replaces the config. New connections use it; live
// connections keep the config they started with, except that each is
// checked against the new Allow and reset if refused (counted with reason
// "sg_revoked"), before Update returns. The endpoint's shared limits take
// the new values at once.
func (l *Listener) Update(cfg Config) {
	l.updateMu.Lock()
	if l.released {
		l.updateMu.Unlock()
		return
	}
	prev := l.st.Load()
	st := compile(cfg, l.metrics, prev, l.budget, l.log)
	l.st.Store(st)
	if st.ep != prev.ep {
		l.budget.release(prev.ep)
	}
	l.updateMu.Unlock()
	select {
	case l.updated <- struct{}{}:
	default:
	}
	l.recheck(st)
}

// recheck resets the live connections st.Allow refuses: on the engine, each
// loop checks the flows it owns (the others keep running); on goroutines,
// the caller checks the registered connections.
func (l *Listener) recheck(st *state) {
	l.mu.Lock()
	eng, closed := l.eng, l.closed
	l.mu.Unlock()
	if closed {
		return
	}
	n := 0
	if eng != nil {
		n = eng.recheck(l, st)
	} else {
		for _, c := range l.snapshot(nil) {
			if !c.closed.Load() && !st.allow(c.src, c.dst.Port()) {
				c.revoke(st)
				n++
			}
		}
	}
	if n > 0 {
		l.log.Info("security group change closed live connections", "closed_conns", n)
	}
}

// Close stops accepting, closes every live proxied connection (both sides)
// and waits until all goroutines of the Listener have exited. It is safe to
// call more than once and concurrently with Serve and Update.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wg.Wait()
		return nil
	}
	l.closed = true
	conns := make([]*pconn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	eng := l.eng
	l.mu.Unlock()

	l.cancel()
	var err error
	closedConns := len(conns)
	if eng != nil {
		closedConns, err = eng.stop(l)
	} else {
		err = l.ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
	l.wg.Wait()
	l.updateMu.Lock()
	if !l.released {
		l.released = true
		l.budget.release(l.st.Load().ep)
	}
	l.updateMu.Unlock()
	lvl := slog.LevelDebug // the caller logs the listener going down
	if closedConns > 0 {
		lvl = slog.LevelInfo
	}
	l.log.Log(context.Background(), lvl, "proxy listener closed", "closed_conns", closedConns)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("proxy: close listener %s: %w", l.ln.Addr(), err)
	}
	return nil
}

// ActiveConns returns the number of consumer connections being proxied,
// including those still dialing a backend.
func (l *Listener) ActiveConns() int { return int(l.active.Load()) }

func (l *Listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// register adds an established connection, unless the Listener is closed.
func (l *Listener) register(c *pconn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *Listener) deregister(c *pconn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// snapshot appends the established connections to buf.
func (l *Listener) snapshot(buf []*pconn) []*pconn {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		buf = append(buf, c)
	}
	return buf
}

// warn logs at most one warning per second per Listener, so that a dead
// backend pool under load does not flood the log.
func (l *Listener) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	next := l.warnNext.Load()
	if now < next || !l.warnNext.CompareAndSwap(next, now+int64(time.Second)) {
		return
	}
	l.log.Warn(msg, args...)
}

// connAddrs returns the consumer address (IPv4-mapped addresses unmapped)
// and the local endpoint address of c.
func connAddrs(c net.Conn) (src, dst netip.AddrPort) {
	src, dst = addrPort(c.RemoteAddr()), addrPort(c.LocalAddr())
	return netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), dst
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// isTemporary reports accept errors worth retrying (resource exhaustion,
// aborted handshakes).
func isTemporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
