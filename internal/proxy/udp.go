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

// UDP defaults.
const (
	// DefaultUDPIdleTimeout closes a flow that saw no datagram in either
	// direction that long when Config.IdleTimeout is 0 (Linux conntrack's
	// nf_conntrack_udp_timeout_stream is 120 s, udp_timeout 30 s; AWS NLB
	// keeps UDP flows 120 s; 60 s sits between and suits DNS, syslog, QUIC
	// with keepalives).
	DefaultUDPIdleTimeout = 60 * time.Second
	// DefaultMaxUDPFlows bounds the flows of one UDPListener (one endpoint
	// zone x port) when Config.MaxConns is 0: each flow holds a socket
	// and a goroutine (~8 KiB), so memory stays bounded.
	DefaultMaxUDPFlows = 4096
	// maxDatagram is the largest UDP payload.
	maxDatagram = 65535
)

// UDPDialFunc opens a UDP socket in the provider's network connected to
// addr (so that ICMP port unreachable comes back as ECONNREFUSED).
type UDPDialFunc func(addr netip.AddrPort) (*net.UDPConn, error)

// DialUDP is a UDPDialFunc for backends reachable from the current
// network namespace.
func DialUDP(addr netip.AddrPort) (*net.UDPConn, error) {
	return net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
}

// UDPListener proxies the datagrams arriving on one UDP socket (the
// endpoint's ENI address and a service UDP port) to the provider's
// backends. Each consumer address is a flow with its own backend socket;
// see README.md, "UDP".
type UDPListener struct {
	pc      *net.UDPConn
	laddr   netip.AddrPort
	dial    UDPDialFunc
	health  *Health
	metrics *Metrics
	budget  *Budget
	log     *slog.Logger

	st       atomic.Pointer[state]
	updateMu sync.Mutex
	rr       atomic.Uint64

	mu       sync.Mutex
	flows    map[netip.AddrPort]*udpFlow // by consumer address; under mu
	closed   bool
	serving  bool
	released bool
	wg       sync.WaitGroup // Serve's sweeper and the flows' reply goroutines
	stop     chan struct{}
	retime   chan struct{} // Update wakes the sweeper: a new idle timeout applies at once
}

// udpFlow is one consumer address's flow to one backend.
type udpFlow struct {
	src, backend netip.AddrPort
	conn         *net.UDPConn
	st           *state       // config the flow was admitted with
	last         atomic.Int64 // nanos of the last datagram either way
	gone         atomic.Bool  // closed; under UDPListener.mu when set
}

// NewUDPListener returns a UDPListener for pc (bound to the endpoint
// address) with cfg. health may be nil (all healthy; use one checking with
// UDPProbe) and so may m. Options: WithBudget.
func NewUDPListener(pc *net.UDPConn, cfg Config, dial UDPDialFunc, health *Health, m *Metrics, opts ...Option) *UDPListener {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	laddr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	var tmp Listener
	for _, o := range opts {
		o(&tmp)
	}
	l := &UDPListener{
		pc: pc, laddr: netip.AddrPortFrom(laddr.Addr().Unmap(), laddr.Port()), dial: dial, health: health, metrics: m,
		budget: tmp.budget,
		log: log.With("component", "proxy-udp", "listen", laddr.String(),
			"endpoint_id", cfg.EndpointID, "zone_id", cfg.ZoneID),
		flows:  map[netip.AddrPort]*udpFlow{},
		stop:   make(chan struct{}),
		retime: make(chan struct{}, 1),
	}
	if l.budget == nil {
		l.budget = DefaultBudget()
	}
	l.st.Store(compileUDP(cfg, m, nil, l.budget, l.log))
	return l
}

// compileUDP is compile with the UDP idle default.
func compileUDP(cfg Config, m *Metrics, prev *state, b *Budget, log *slog.Logger) *state {
	st := compile(cfg, m, prev, b, log)
	if cfg.IdleTimeout <= 0 {
		st.idle = DefaultUDPIdleTimeout
	}
	st.udp = m.forUDP(cfg.EndpointID, cfg.ZoneID)
	return st
}

// Addr is the address the listener receives on.
func (l *UDPListener) Addr() netip.AddrPort { return l.laddr }

// Flows is the number of live flows.
func (l *UDPListener) Flows() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.flows)
}

// Serve receives datagrams until Close, then returns nil.
func (l *UDPListener) Serve() error {
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
	l.wg.Add(1)
	l.mu.Unlock()
	go l.sweep()
	l.log.Info("udp listener serving")
	buf := make([]byte, maxDatagram)
	var hdr []byte
	for {
		n, src, err := l.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if l.isClosed() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// ICMP errors for our replies (consumer gone) and the like.
			continue
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		hdr = l.forward(src, buf[:n], hdr[:0])
	}
}

// forward sends one consumer datagram on its flow, opening the flow on
// the first. hdr is scratch space for the PROXY header; it is returned.
func (l *UDPListener) forward(src netip.AddrPort, p []byte, hdr []byte) []byte {
	now := time.Now()
	l.mu.Lock()
	f := l.flows[src]
	l.mu.Unlock()
	payload := len(p)
	if f == nil {
		if f, p, hdr = l.open(src, p, hdr); f == nil {
			return hdr
		}
	}
	st := f.st
	if !st.ep.in.allow(nanos(now), len(p)) {
		st.udp.drop(udpDropBandwidth)
		return hdr
	}
	f.last.Store(nanos(now))
	if _, err := f.conn.Write(p); err != nil {
		st.udp.drop(udpDropSendError)
		if isRefused(err) {
			l.backendRefused(f)
		}
		return hdr
	}
	st.udp.datagram(true)
	st.met.addBytes(true, int64(payload))
	return hdr
}

// open admits a new flow from src (security group, limits), picks a
// backend and starts its reply goroutine. It returns the flow and the
// first datagram to send (p, behind a PROXY header if configured, built
// in hdr's array), or nil when the datagram is dropped; and hdr to reuse.
func (l *UDPListener) open(src netip.AddrPort, p, hdr []byte) (*udpFlow, []byte, []byte) {
	st := l.st.Load()
	if !st.allow(src, l.laddr.Port()) {
		st.met.sgDrop()
		return nil, nil, hdr
	}
	maxFlows := st.cfg.MaxConns
	if maxFlows <= 0 {
		maxFlows = DefaultMaxUDPFlows
	}
	if l.Flows() >= maxFlows {
		st.udp.drop(udpDropFlowLimit)
		return nil, nil, hdr
	}
	if v := l.budget.admit(st.ep, time.Now()); v != admitted {
		st.met.reject(v)
		return nil, nil, hdr
	}
	var cands [MaxDialAttempts]netip.AddrPort
	n := st.candidates(l.health, l.rr.Add(1)-1, &cands)
	var conn *net.UDPConn
	var backend netip.AddrPort
	for _, a := range cands[:n] {
		c, err := l.dial(a)
		if err != nil {
			st.met.dialFailure()
			l.health.markDown(a)
			l.log.Warn("udp backend socket failed", "backend", a, "err", err)
			continue
		}
		conn, backend = c, a
		break
	}
	if conn == nil {
		l.budget.done(st.ep)
		st.udp.drop(udpDropNoBackend)
		return nil, nil, hdr
	}
	f := &udpFlow{src: src, backend: backend, conn: conn, st: st}
	f.last.Store(nanos(time.Now()))
	l.mu.Lock()
	if l.closed || l.flows[src] != nil {
		l.mu.Unlock()
		conn.Close()
		l.budget.done(st.ep)
		return nil, nil, hdr
	}
	l.flows[src] = f
	l.wg.Add(1)
	l.mu.Unlock()
	st.met.connOpened()
	go l.replies(f)
	if st.cfg.ProxyProtocol {
		first := append(appendProxyHeaderDgram(hdr[:0], src, l.laddr, st.tlvs), p...)
		return f, first, first[:0]
	}
	return f, p, hdr
}

// replies copies backend datagrams of f back to its consumer until the
// flow closes.
func (l *UDPListener) replies(f *udpFlow) {
	defer l.wg.Done()
	for {
		bp, n, err := recvDatagram(f.conn)
		if err != nil {
			if isRefused(err) && !f.gone.Load() {
				l.backendRefused(f)
				continue // the flow is closed now; the next read fails
			}
			if f.gone.Load() {
				return
			}
			l.closeFlow(f, "backend socket error")
			return
		}
		l.reply(f, (*bp)[:n])
		datagramBufs.Put(bp)
	}
}

// reply sends one backend datagram of f to its consumer.
func (l *UDPListener) reply(f *udpFlow, p []byte) {
	st := f.st
	now := time.Now()
	if !st.ep.out.allow(nanos(now), len(p)) {
		st.udp.drop(udpDropBandwidth)
		return
	}
	f.last.Store(nanos(now))
	if _, err := l.pc.WriteToUDPAddrPort(p, f.src); err != nil {
		st.udp.drop(udpDropSendError)
		return
	}
	st.udp.datagram(false)
	st.met.addBytes(false, int64(len(p)))
}

// datagramBufs holds receive buffers of maxDatagram bytes.
var datagramBufs = sync.Pool{New: func() any { b := make([]byte, maxDatagram); return &b }}

// backendRefused handles ICMP port unreachable from f's backend: the
// backend is marked down and the flow closed, so the consumer's next
// datagram opens a flow to a healthy backend.
func (l *UDPListener) backendRefused(f *udpFlow) {
	f.st.met.dialFailure()
	l.health.markDown(f.backend)
	l.closeFlow(f, "backend port unreachable")
}

// closeFlow removes f and closes its socket (idempotent).
func (l *UDPListener) closeFlow(f *udpFlow, why string) {
	l.mu.Lock()
	if f.gone.Load() {
		l.mu.Unlock()
		return
	}
	f.gone.Store(true)
	if l.flows[f.src] == f {
		delete(l.flows, f.src)
	}
	l.mu.Unlock()
	_ = f.conn.Close()
	l.budget.done(f.st.ep)
	f.st.met.connClosed()
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("udp flow closed", "src", f.src, "backend", f.backend, "reason", why)
	}
}

// sweep closes idle flows every quarter of the idle timeout.
func (l *UDPListener) sweep() {
	defer l.wg.Done()
	for {
		st := l.st.Load()
		every := min(max(st.idle/4, 10*time.Millisecond), 5*time.Second)
		select {
		case <-l.stop:
			return
		case <-l.retime:
		case <-time.After(every):
		}
		// The current idle timeout applies to every flow, old ones too.
		now, idle := nanos(time.Now()), l.st.Load().idle
		for _, f := range l.snapshot() {
			if time.Duration(now-f.last.Load()) >= idle {
				l.closeFlow(f, "idle")
			}
		}
	}
}

func (l *UDPListener) snapshot() []*udpFlow {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*udpFlow, 0, len(l.flows))
	for _, f := range l.flows {
		out = append(out, f)
	}
	return out
}

// Update swaps the config for new flows; live flows the new security group
// refuses, or whose backend is gone, are closed before Update returns.
func (l *UDPListener) Update(cfg Config) {
	l.updateMu.Lock()
	defer l.updateMu.Unlock()
	if l.released {
		return
	}
	prev := l.st.Load()
	st := compileUDP(cfg, l.metrics, prev, l.budget, l.log)
	l.st.Store(st)
	select { // a shorter idle timeout must not wait out the old sweep interval
	case l.retime <- struct{}{}:
	default:
	}
	if st.ep != prev.ep {
		l.budget.release(prev.ep)
	}
	keep := map[netip.AddrPort]bool{}
	for _, b := range cfg.Backends {
		keep[b.Addr] = true
	}
	for _, f := range l.snapshot() {
		switch {
		case !st.allow(f.src, l.laddr.Port()):
			st.met.reject(revokedSG)
			l.closeFlow(f, "security group revoked")
		case !keep[f.backend]:
			l.closeFlow(f, "backend removed")
		}
	}
}

// Close stops receiving, closes every flow and waits for the listener's
// goroutines.
func (l *UDPListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.stop)
	l.mu.Unlock()
	err := l.pc.Close()
	for _, f := range l.snapshot() {
		l.closeFlow(f, "listener closed")
	}
	l.wg.Wait()
	l.updateMu.Lock()
	l.released = true
	l.budget.release(l.st.Load().ep)
	l.updateMu.Unlock()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("proxy: close udp %s: %w", l.laddr, err)
	}
	return nil
}

func (l *UDPListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// isRefused reports an ICMP port (or host) unreachable surfaced on a
// connected UDP socket.
func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH)
}

// FD is the listening socket's descriptor (-1 once closed), for a handoff
// to a successor process. It stays l's: the caller must not close it.
func (l *UDPListener) FD() int {
	rc, err := l.pc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(s uintptr) { fd = int(s) }) != nil {
		return -1
	}
	return fd
}
