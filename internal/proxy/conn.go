package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// copyBufSize is the buffer of the user-space copy (bandwidth-capped or
// non-TCP connections only).
const copyBufSize = 32 << 10

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// keepAlive is applied to a side of a proxied connection that does not have
// keepalive enabled already.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 60 * time.Second, Interval: 15 * time.Second, Count: 4}

// pconn is one proxied connection.
type pconn struct {
	l       *Listener
	st      *state // config at accept time
	client  net.Conn
	backend net.Conn
	ctcp    *net.TCPConn // client as *net.TCPConn, nil if it is not one
	btcp    *net.TCPConn // backend as *net.TCPConn, nil if it is not one
	splice  bool         // both sides TCP and no bandwidth cap
	src     netip.AddrPort
	dst     netip.AddrPort

	closed   atomic.Bool
	finished atomic.Int32 // directions done
	outDone  sync.WaitGroup

	// Progress of user-space copies (zero on the splice path); read by the
	// sweeper for idle detection and live byte accounting.
	userIn, userOut atomic.Int64
	// Bytes already added to the metrics, per direction.
	repIn, repOut atomic.Int64

	// Owned by the sweeper goroutine.
	raw        syscall.RawConn
	odometer   uint64
	lastActive time.Time
}

func newConn(l *Listener, st *state, client, backend net.Conn) *pconn {
	c := &pconn{l: l, st: st, client: client, backend: backend}
	c.ctcp, _ = client.(*net.TCPConn)
	c.btcp, _ = backend.(*net.TCPConn)
	c.splice = haveTCPInfo && c.ctcp != nil && c.btcp != nil && !st.capped
	return c
}

// revoke resets a connection the security group no longer allows and
// counts it under st (the config that refused it).
func (c *pconn) revoke(st *state) {
	if c.ctcp != nil {
		_ = c.ctcp.SetLinger(0)
	}
	if c.closed.Load() {
		return
	}
	st.met.reject(revokedSG)
	c.close()
}

// close closes both sides once; it unblocks both copy directions.
func (c *pconn) close() {
	if c.closed.CompareAndSwap(false, true) {
		_ = c.client.Close()
		_ = c.backend.Close()
	}
}

// copyIn copies consumer->backend on the connection goroutine.
func (c *pconn) copyIn() { c.pipe(true) }

// copyOut copies backend->consumer; it runs on a second pooled goroutine.
func (c *pconn) copyOut() {
	defer c.outDone.Done()
	c.pipe(false)
}

// pipe copies one direction until EOF or error. On EOF it half-closes the
// destination so the peer sees the end of stream while the other direction
// keeps flowing (unless the other direction is done too: the full close that
// follows sends the FIN, saving a shutdown(2)); on error it closes both
// sides.
func (c *pconn) pipe(in bool) {
	dst, src := c.client, c.backend
	if in {
		dst, src = c.backend, c.client
	}
	var (
		n   int64
		err error
	)
	switch {
	case c.splice && in:
		n, err = adaptiveCopy(c.btcp, c.ctcp)
	case c.splice:
		n, err = adaptiveCopy(c.ctcp, c.btcp)
	default:
		n, err = c.copyUser(dst, src, in)
	}
	c.account(in, n)
	if last := c.finished.Add(1) == 2; err == nil && !last {
		err = closeWrite(dst)
	}
	if err != nil {
		if !c.closed.Load() && c.l.log.Enabled(c.l.ctx, slog.LevelDebug) {
			c.l.log.Debug("proxied connection aborted", "src", c.client.RemoteAddr(),
				"backend", c.backend.RemoteAddr(), "in", in, "bytes", n, "err", err)
		}
		c.close()
	}
}

// smallBufSize is the read buffer of adaptiveCopy's first phase.
const smallBufSize = 16 << 10

var smallBufPool = sync.Pool{New: func() any { b := make([]byte, smallBufSize); return &b }}

// adaptiveCopy copies src to dst with read(2)/write(2) through a pooled
// buffer taken only once data is there, and switches to splice(2) for the
// rest of the stream as soon as a read fills the buffer. Small messages
// (requests, ping-pong, short connections) so cost one read and one write
// and no pipe; an idle connection holds neither a buffer nor a pipe; bulk
// transfers still move through the kernel without a copy. The sweeper's
// TCP_INFO accounting covers both phases.
func adaptiveCopy(dst, src *net.TCPConn) (int64, error) {
	rc, err := src.SyscallConn()
	if err != nil {
		return 0, err
	}
	var written int64
	for {
		var bp *[]byte
		var nr int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			b := smallBufPool.Get().(*[]byte)
			for {
				nr, rerr = syscall.Read(int(fd), *b)
				if rerr != syscall.EINTR {
					break
				}
			}
			if rerr == syscall.EAGAIN {
				smallBufPool.Put(b)
				return false // wait for data without holding a buffer
			}
			bp = b
			return true
		})
		if err != nil {
			return written, err
		}
		if rerr != nil || nr <= 0 {
			smallBufPool.Put(bp)
			if rerr != nil {
				return written, rerr
			}
			return written, nil // EOF
		}
		nw, werr := dst.Write((*bp)[:nr])
		smallBufPool.Put(bp)
		written += int64(nw)
		if werr != nil {
			return written, werr
		}
		if nr == smallBufSize {
			m, err := dst.ReadFrom(src) // bulk: splice from here on
			return written + m, err
		}
	}
}

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("proxy: connection does not support half-close")
}

// copyUser is the user-space copy used when a bandwidth cap is configured or
// a side is not a *net.TCPConn. It counts progress for the sweeper.
func (c *pconn) copyUser(dst, src net.Conn, in bool) (written int64, err error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	var lim *bucket // the endpoint's, shared by its connections
	if c.st.capped {
		lim = &c.st.ep.out
		if in {
			lim = &c.st.ep.in
		}
	}
	ctr := &c.userOut
	if in {
		ctr = &c.userIn
	}
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			if lim != nil {
				if err := sleep(c.l.ctx, lim.take(nanos(time.Now()), nr)); err != nil {
					return written, err
				}
			}
			nw, werr := dst.Write(buf[:nr])
			written += int64(nw)
			ctr.Add(int64(nw))
			if werr != nil {
				return written, werr
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// account adds the final byte count of a direction to the metrics; bytes
// already reported live by the sweeper are not counted twice.
func (c *pconn) account(in bool, n int64) { c.raise(in, n) }

// raise raises the reported byte count of a direction to v, adding the
// difference to the metrics. Reported counts never decrease.
func (c *pconn) raise(in bool, v int64) {
	m := c.st.met
	if m == nil {
		return
	}
	r := &c.repOut
	if in {
		r = &c.repIn
	}
	for {
		old := r.Load()
		if v <= old {
			return
		}
		if r.CompareAndSwap(old, v) {
			m.addBytes(in, v-old)
			return
		}
	}
}
