// Package dns is the private DNS of a self-hosted PrivateLink.
//
// A Server is authoritative for exactly one zone (for example
// "cn-hangzhou.privatelink.internal.") and serves one view per VPC: a client
// talking to the sockets registered for a VPC with Serve sees only the
// endpoint names of that VPC. Records come from an in-memory Snapshot which
// the caller builds from the control-plane store and swaps in atomically
// with SetSnapshot, then keeps current name by name with PatchView (a
// patch costs the names it changes, not the view); queries never touch
// the store.
//
// Names outside the zone are forwarded to the configured upstream resolvers,
// or refused when there are none. In-zone names are never forwarded.
//
// The wire protocol is implemented with github.com/miekg/dns. See README.md
// in this directory for the behaviour in detail (negative answers, EDNS0,
// truncation, metrics).
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Snapshot is an immutable view of all records, built by the caller from the control-plane store.
type Snapshot struct {
	Revision int64                              // store revision; used as SOA serial (truncate to uint32 sensibly)
	Views    map[string]map[string][]netip.Addr // vpcID -> lower-case FQDN with trailing dot -> A records (IPv4 only for now)
}

// Config configures a Server.
type Config struct {
	Zone       string                // e.g. "cn-hangzhou.privatelink.internal." (normalize: lowercase, trailing dot)
	TTL        uint32                // answer TTL, default 5 seconds
	Upstreams  []string              // "127.0.0.1:53"-style; empty => names outside the zone get REFUSED
	Registerer prometheus.Registerer // may be nil
	Logger     *slog.Logger

	// MaxUDPSize caps the size of UDP responses (and is the payload size we
	// advertise in our OPT record). A client's EDNS0 buffer size is honoured
	// up to this value. Default 4096; values below 512 are raised to 512.
	MaxUDPSize uint16
}

const (
	// DefaultTTL is the answer TTL used when Config.TTL is zero.
	DefaultTTL = 5
	// DefaultMaxUDPSize is the default for Config.MaxUDPSize.
	DefaultMaxUDPSize = 4096

	// readBufferSize is the UDP read buffer of the serving sockets. Queries
	// larger than this are not legitimate.
	readBufferSize = 4096
	// stopTimeout bounds how long Stop waits for in-flight queries (which may
	// be waiting on an upstream) before it closes the sockets anyway.
	stopTimeout = 5 * time.Second
)

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("dns: server closed")

// Server is an authoritative, per-VPC-view DNS server for one zone. Its
// methods are safe for concurrent use.
type Server struct {
	zone       string // lower case, trailing dot
	nsName     string // ns.<zone>
	hostmaster string // hostmaster.<zone>
	ttl        uint32
	maxUDP     uint16
	log        *slog.Logger
	metrics    *metrics
	created    time.Time
	fwd        *forwarder // nil without upstreams

	snap atomic.Pointer[compiledSnapshot]
	// wmu serialises the writers of snap (SetSnapshot, PatchView).
	wmu    sync.Mutex
	rotate atomic.Uint32 // round-robin offset for A answers

	// noRecover disables the panic safety net in ServeDNS (fuzz tests want
	// to see panics).
	noRecover bool

	mu      sync.Mutex
	closed  bool
	serving map[string][]*socket // vpcID -> sockets served for it
}

// socket is one serving socket (a miekg server bound to a PacketConn or a
// Listener).
type socket struct {
	srv  *mdns.Server
	done chan struct{} // closed when the serve goroutine has returned
}

// New validates cfg and returns a Server. It registers the metrics with
// cfg.Registerer (if any); Close unregisters them.
func New(cfg Config) (*Server, error) {
	zone := strings.ToLower(mdns.Fqdn(strings.TrimSpace(cfg.Zone)))
	if cfg.Zone == "" || zone == "." {
		return nil, fmt.Errorf("dns: config: zone must be a non-root domain name, got %q", cfg.Zone)
	}
	if _, ok := mdns.IsDomainName(zone); !ok {
		return nil, fmt.Errorf("dns: config: invalid zone %q", cfg.Zone)
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	maxUDP := cfg.MaxUDPSize
	switch {
	case maxUDP == 0:
		maxUDP = DefaultMaxUDPSize
	case maxUDP < mdns.MinMsgSize:
		maxUDP = mdns.MinMsgSize
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "dns", "zone", zone)

	s := &Server{
		zone:       zone,
		nsName:     "ns." + zone,
		hostmaster: "hostmaster." + zone,
		ttl:        ttl,
		maxUDP:     maxUDP,
		log:        logger,
		created:    time.Now(),
		serving:    make(map[string][]*socket),
	}
	if len(cfg.Upstreams) > 0 {
		fwd, err := newForwarder(cfg.Upstreams)
		if err != nil {
			return nil, fmt.Errorf("dns: config: %w", err)
		}
		s.fwd = fwd
	}
	m, err := newMetrics(cfg.Registerer, s.snapshotAge)
	if err != nil {
		return nil, fmt.Errorf("dns: registering metrics: %w", err)
	}
	s.metrics = m
	return s, nil
}

// SetSnapshot atomically replaces the records being served. The first call
// marks the server ready. SetSnapshot copies what it needs from snap, so the
// caller may drop or reuse it afterwards. A nil snapshot is ignored.
func (s *Server) SetSnapshot(snap *Snapshot) {
	if snap == nil {
		s.log.Error("SetSnapshot called with nil snapshot; ignored")
		return
	}
	c, stats := compile(s.zone, snap)
	s.wmu.Lock()
	s.snap.Store(c)
	s.wmu.Unlock()
	s.metrics.revision.Set(float64(snap.Revision))
	if stats.skippedNames > 0 || stats.skippedAddrs > 0 {
		s.log.Warn("snapshot contains unusable records",
			"revision", snap.Revision,
			"skipped_names", stats.skippedNames,
			"skipped_addrs", stats.skippedAddrs)
	}
	s.log.Debug("snapshot installed", "revision", snap.Revision, "views", len(c.views), "names", stats.names)
}

// PatchView sets the records of some names in one VPC's view: each name
// gets exactly the given addresses, and a name given none is removed
// (names are normalised as in SetSnapshot; give each name once). Every
// other name and view stays as it was and is not copied: the cost is the
// patched names (plus, when the VPC had no view yet, the table of views).
// A query sees each name either before or after the patch. revision
// becomes the snapshot's (the SOA serial). Before any SetSnapshot,
// PatchView starts from an empty snapshot and marks the server ready.
func (s *Server) PatchView(revision int64, vpcID string, names map[string][]netip.Addr) {
	ps, stats := compilePatch(names)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	c := s.snap.Load()
	if c == nil {
		c = &compiledSnapshot{views: map[string]*view{}}
	}
	v := c.views[vpcID]
	if v == nil && len(ps) > 0 {
		v = newView(len(ps))
		c = c.withView(vpcID, v)
	}
	if v != nil {
		v.apply(s.zone, ps)
	}
	s.setRevision(c, revision)
	if stats.skippedNames > 0 || stats.skippedAddrs > 0 {
		s.log.Warn("view patch contains unusable records", "vpc", vpcID, "revision", revision,
			"skipped_names", stats.skippedNames, "skipped_addrs", stats.skippedAddrs)
	}
}

// SetRevision records that the records served are current as of revision
// (the SOA serial) without changing any. Before any SetSnapshot or
// PatchView it does nothing.
func (s *Server) SetRevision(revision int64) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if c := s.snap.Load(); c != nil {
		s.setRevision(c, revision)
	}
}

// setRevision installs a copy of c (sharing its views) at revision.
func (s *Server) setRevision(c *compiledSnapshot, revision int64) {
	n := *c
	n.revision, n.serial, n.loaded = revision, serialFromRevision(revision), time.Now()
	s.snap.Store(&n)
	s.metrics.revision.Set(float64(revision))
}

// Ready reports whether a snapshot has been installed. Until then every
// query is answered with SERVFAIL.
func (s *Server) Ready() bool { return s.snap.Load() != nil }

// snapshotAge is the age of the current snapshot; before the first
// SetSnapshot it is the time since New, so that "never loaded" alerts fire.
func (s *Server) snapshotAge() float64 {
	since := s.created
	if c := s.snap.Load(); c != nil {
		since = c.loaded
	}
	return time.Since(since).Seconds()
}

// Handler returns the mdns.Handler for a VPC view (used by Serve and by fuzz
// tests). The transport (UDP truncation vs. full TCP answers) is derived from
// the ResponseWriter's local address; an unknown transport is treated as UDP.
func (s *Server) Handler(vpcID string) mdns.Handler {
	return &handler{s: s, vpc: vpcID, transport: transportAuto}
}

// Serve answers queries arriving on these sockets with the given VPC's view.
// Either may be nil. Returns immediately; serving runs in goroutines until
// Stop(vpcID) or Close. Serve may be called several times for the same VPC
// (e.g. one address per subnet). The Server takes ownership of the sockets;
// if Serve fails the caller should close them (closing twice is harmless).
func (s *Server) Serve(vpcID string, pc net.PacketConn, ln net.Listener) error {
	if vpcID == "" {
		return errors.New("dns: serve: empty vpc id")
	}
	if pc == nil && ln == nil {
		return fmt.Errorf("dns: serve vpc %q: no socket given", vpcID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("dns: serve vpc %q: %w", vpcID, ErrClosed)
	}

	var started []*socket
	if pc != nil {
		sk, err := s.start(vpcID, &mdns.Server{PacketConn: pc}, transportPacket)
		if err != nil {
			return fmt.Errorf("dns: serve vpc %q on udp %s: %w", vpcID, pc.LocalAddr(), err)
		}
		started = append(started, sk)
	}
	if ln != nil {
		sk, err := s.start(vpcID, &mdns.Server{Listener: ln}, transportStream)
		if err != nil {
			s.shutdown(vpcID, started)
			return fmt.Errorf("dns: serve vpc %q on tcp %s: %w", vpcID, ln.Addr(), err)
		}
		started = append(started, sk)
	}
	s.serving[vpcID] = append(s.serving[vpcID], started...)
	return nil
}

// start runs srv in a goroutine and waits until it is accepting queries.
func (s *Server) start(vpcID string, srv *mdns.Server, t transport) (*socket, error) {
	ready := make(chan struct{})
	srv.Handler = &handler{s: s, vpc: vpcID, transport: t}
	srv.UDPSize = readBufferSize
	srv.MsgAcceptFunc = acceptQuery
	srv.MsgInvalidFunc = s.invalidQuery
	srv.NotifyStartedFunc = func() { close(ready) }

	sk := &socket{srv: srv, done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		defer close(sk.done)
		err := srv.ActivateAndServe()
		errc <- err
		if err != nil {
			s.log.Error("serving stopped with error", "vpc", vpcID, "error", err)
		}
	}()
	select {
	case <-ready:
		return sk, nil
	case err := <-errc:
		if err == nil {
			err = errors.New("server exited before it started")
		}
		return nil, err
	}
}

// Stop stops serving that VPC's sockets and closes them. In-flight queries
// get up to a few seconds to finish. Stopping a VPC that is not served is a
// no-op.
func (s *Server) Stop(vpcID string) error {
	s.mu.Lock()
	socks := s.serving[vpcID]
	delete(s.serving, vpcID)
	s.mu.Unlock()
	return s.shutdown(vpcID, socks)
}

func (s *Server) shutdown(vpcID string, socks []*socket) error {
	if len(socks) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, sk := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := sk.srv.ShutdownContext(ctx)
			switch {
			case err == nil:
				<-sk.done
			case errors.Is(err, context.DeadlineExceeded):
				// The sockets are closed; slow handlers finish on their own.
				s.log.Warn("in-flight queries still running after stop", "vpc", vpcID)
			default:
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dns: stop vpc %q: %w", vpcID, err)
	}
	return nil
}

// Close stops serving every VPC, closes all sockets and unregisters the
// metrics. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	serving := s.serving
	s.serving = make(map[string][]*socket)
	s.mu.Unlock()

	var errs []error
	for vpcID, socks := range serving {
		if err := s.shutdown(vpcID, socks); err != nil {
			errs = append(errs, err)
		}
	}
	s.metrics.unregister()
	return errors.Join(errs...)
}

// acceptQuery is the early filter run by miekg before unpacking: responses
// are dropped silently (no amplification, no loops); everything else is
// unpacked and judged by the handler, which answers FORMERR/NOTIMP itself.
func acceptQuery(dh mdns.Header) mdns.MsgAcceptAction {
	const qrBit = 1 << 15
	if dh.Bits&qrBit != 0 {
		return mdns.MsgIgnore
	}
	return mdns.MsgAccept
}

// invalidQuery is called by miekg for packets that do not unpack. Those of
// at least header size are answered FORMERR by miekg itself.
func (s *Server) invalidQuery(m []byte, err error) {
	if len(m) >= 12 {
		s.metrics.observe(0, false, mdns.RcodeFormatError)
	}
	s.log.Debug("malformed query", "len", len(m), "error", err)
}
