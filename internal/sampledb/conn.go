package sampledb

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pires/go-proxyproto"
)

// connInfo is what the server knows about a client connection.
type connInfo struct {
	ClientAddr string // PROXY source address, or the TCP peer
	Proxied    bool   // a PROXY header was received
	VPCID      string
	EndpointID string
	ServiceID  string
}

// infoOf reads connInfo from a (possibly PROXY-wrapped) connection. For a
// *proxyproto.Conn it may block until the header is read or times out.
func infoOf(c net.Conn) connInfo {
	info := connInfo{ClientAddr: addrString(c.RemoteAddr())}
	pc, ok := c.(*proxyproto.Conn)
	if !ok {
		return info
	}
	h := pc.ProxyHeader()
	if h == nil {
		return info
	}
	info.Proxied = true
	if tlvs, err := h.TLVs(); err == nil {
		info.VPCID, info.EndpointID, info.ServiceID = ParseAlibabaTLVs(tlvs)
	}
	return info
}

// connTracker wraps the server's listener. It remembers every accepted
// connection so Close can end all sessions and wait for their goroutines, and
// maps MySQL connection IDs to connections for privlink.connection_info.
type connTracker struct {
	net.Listener
	log *slog.Logger

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
	byID   map[uint32]*trackedConn
	wg     sync.WaitGroup // one per accepted connection, done on its Close
}

func newConnTracker(l net.Listener, log *slog.Logger) *connTracker {
	return &connTracker{
		Listener: l,
		log:      log,
		conns:    make(map[*trackedConn]struct{}),
		byID:     make(map[uint32]*trackedConn),
	}
}

// Accept implements net.Listener. Transient accept errors are retried, since
// the vitess accept loop stops at the first error it sees.
func (t *connTracker) Accept() (net.Conn, error) {
	for {
		c, err := t.Listener.Accept()
		if err != nil {
			if t.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			t.log.Warn("accept failed, retrying", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		tc := &trackedConn{Conn: c, t: t}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			_ = c.Close()
			return nil, net.ErrClosed
		}
		t.conns[tc] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		return tc, nil
	}
}

// Close implements net.Listener; it stops accepting but leaves sessions open.
func (t *connTracker) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	err := t.Listener.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (t *connTracker) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// closeConns closes the sockets of all open connections and waits up to
// timeout for their session goroutines to finish.
func (t *connTracker) closeConns(timeout time.Duration) error {
	t.mu.Lock()
	open := make([]*trackedConn, 0, len(t.conns))
	for tc := range t.conns {
		open = append(open, tc)
	}
	t.mu.Unlock()
	for _, tc := range open {
		// Close the socket only; the session goroutine then fails its read and
		// calls tc.Close, which marks it done.
		_ = tc.Conn.Close()
	}
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return errors.New("timed out waiting for sessions to end")
	}
}

// bind records that MySQL connection id is served by tc.
func (t *connTracker) bind(id uint32, tc *trackedConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, open := t.conns[tc]; open {
		tc.id, tc.bound = id, true
		t.byID[id] = tc
	}
}

// info returns the connection info for MySQL connection id.
func (t *connTracker) info(id uint32) (connInfo, bool) {
	t.mu.Lock()
	tc, ok := t.byID[id]
	t.mu.Unlock()
	if !ok {
		return connInfo{}, false
	}
	return tc.info(), true
}

func (t *connTracker) remove(tc *trackedConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.conns[tc]; !ok {
		return
	}
	delete(t.conns, tc)
	if tc.bound && t.byID[tc.id] == tc {
		delete(t.byID, tc.id)
	}
	t.wg.Done()
}

// trackedConn is an accepted connection (a *proxyproto.Conn in production).
type trackedConn struct {
	net.Conn
	t *connTracker

	id    uint32 // guarded by t.mu
	bound bool   // guarded by t.mu

	infoOnce sync.Once
	cinfo    connInfo
	close    sync.Once
	closeErr error
}

func (c *trackedConn) info() connInfo {
	c.infoOnce.Do(func() { c.cinfo = infoOf(c.Conn) })
	return c.cinfo
}

// Close closes the connection and forgets it.
func (c *trackedConn) Close() error {
	c.close.Do(func() {
		c.closeErr = c.Conn.Close()
		c.t.remove(c)
	})
	return c.closeErr
}
