//go:build linux

package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// flow is one proxied connection, owned by one loop. Sockets are
// registered edge-triggered for input, output and peer half-close once;
// the readiness flags remember an edge until a call returns EAGAIN.
type flow struct {
	l        *Listener
	st       *state // config at accept time
	cfd, bfd int    // consumer and backend sockets; bfd -1 while none
	src, dst netip.AddrPort
	idx      int // position in loop.flows

	cands      [MaxDialAttempts]netip.AddrPort
	ncand      int
	tried      int
	backend    netip.AddrPort // being dialed or connected
	connecting bool
	inSYN      int // bytes of f.in handed to the kernel with the SYN (fastopen_linux.go)
	dialAt     time.Time

	in, out        half // consumer->backend, backend->consumer
	cr, cw, br, bw bool // readable/writable edges not yet consumed
	chup, bhup     bool // peer half-closed: read until EOF even after a short read
	lastActive     time.Time
	closed         bool
}

// half is one direction of a flow. Bytes pass through a loop buffer,
// taken only while data is in flight; once a read fills the buffer the
// direction switches to splice(2) through a pipe (bulk transfer, no copy to
// user space), also taken only while data is in flight.
type half struct {
	buf      *[]byte
	off, n   int // pending bytes are (*buf)[off:n]
	pipe     [2]int
	hasPipe  bool
	inPipe   int  // pending bytes in the pipe
	splice   bool // switched to splice for the rest of the stream
	eof      bool // the source reached end of stream
	shut     bool // end of stream forwarded (or nothing more will be)
	bytes    int64
	reported int64
	lim      *bucket   // the endpoint's bandwidth cap, nil = none
	resumeAt time.Time // waiting for tokens until then
}

func (f *flow) halves() [2]*half { return [2]*half{&f.in, &f.out} }

func (h *half) pending() int { return h.n - h.off + h.inPipe }

// prepare runs before the consumer socket is registered: it picks backend
// candidates, writes the PROXY header and, while that tends to find data
// on this Listener (firstBytes), reads the consumer's first bytes so that
// they can go in the backend's SYN (fastopen_linux.go). It returns an
// error if the consumer socket failed.
func (f *flow) prepare(lp *loop) error {
	st := f.st
	f.ncand = st.candidates(f.l.health, f.l.rr.Add(1)-1, &f.cands)
	if st.capped {
		f.in.lim, f.out.lim = &st.ep.in, &st.ep.out
	}
	if st.cfg.ProxyProtocol {
		// The header leaves together with the first bytes from the consumer.
		f.in.buf = lp.getBuf()
		f.in.n = len(appendProxyHeader((*f.in.buf)[:0], f.src, f.dst, st.tlvs))
	}
	if !fastOpen || f.in.lim != nil || !f.l.firstBytes.want() {
		return nil
	}
	f.cr = true
	n := f.in.n
	err := f.fill(lp, &f.in, f.cfd, &f.cr, false)
	f.l.firstBytes.record(f.in.n > n)
	return err
}

// dial connects to the next untried candidate; when none is left the flow
// is closed.
func (f *flow) dial(lp *loop) {
	var errs []error
	for f.tried < f.ncand {
		a := f.cands[f.tried]
		f.tried++
		fd, err := f.connect(a)
		if err == nil {
			if err = lp.register(fd, f, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET); err != nil {
				unix.Close(fd)
			}
		}
		if err == nil {
			f.bfd, f.backend, f.connecting, f.dialAt = fd, a, true, lp.now
			lp.sweepBy(lp.now.Add(DialTimeout))
			return
		}
		f.dialFailed(a, err)
		errs = append(errs, fmt.Errorf("dial backend %s: %w", a, err))
	}
	if f.ncand == 0 {
		errs = append(errs, errors.New("no backends configured"))
	}
	f.l.warn("no backend reachable, closing consumer connection", "src", f.src, "err", errors.Join(errs...))
	f.close(lp, nil)
}

// connect makes a socket in the provider's network and starts a
// non-blocking connect.
func (f *flow) connect(a netip.AddrPort) (int, error) {
	fd, to, err := f.l.sockets(a)
	if err != nil {
		return -1, err
	}
	if err = setBackendSockopts(fd); err == nil {
		err = f.connectFast(fd, addrPortSockaddr(to))
	}
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// setBackendSockopts sets TCP_NODELAY and keepalive on a backend socket
// (consumer sockets inherit both from the listening socket).
func setBackendSockopts(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return err
	}
	return setKeepAliveFD(fd)
}

func (f *flow) dialFailed(a netip.AddrPort, err error) {
	f.st.met.dialFailure()
	f.l.health.markDown(a)
	if f.l.log.Enabled(context.Background(), slog.LevelDebug) {
		f.l.log.Debug("backend dial failed", "backend", a, "err", err)
	}
}

// redial abandons the backend being connected and tries the next one.
func (f *flow) redial(lp *loop, err error) {
	lp.closeFD(f.bfd)
	f.bfd, f.connecting, f.inSYN = -1, false, 0
	f.br, f.bw, f.bhup = false, false, false
	f.dialFailed(f.backend, err)
	f.dial(lp)
}

func (f *flow) event(lp *loop, fd int, ev uint32) {
	readable := ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
	writable := ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0
	hup := ev&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0
	if fd == f.cfd {
		f.cr, f.cw, f.chup = f.cr || readable, f.cw || writable, f.chup || hup
	} else {
		if f.connecting {
			if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				err, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
				f.redial(lp, fmt.Errorf("connect: %w", unix.Errno(err)))
				return
			}
			if ev&unix.EPOLLOUT == 0 {
				return
			}
			f.connecting = false
			f.synSent()
		}
		f.br, f.bw, f.bhup = f.br || readable, f.bw || writable, f.bhup || hup
	}
	f.run(lp)
}

// run moves bytes both ways as far as readiness allows and closes the flow
// when both directions are finished or one failed.
func (f *flow) run(lp *loop) {
	err := f.pump(lp, &f.in, &f.out, f.cfd, f.bfd, &f.cr, &f.bw, f.chup)
	if err == nil && !f.connecting && f.bfd >= 0 {
		err = f.pump(lp, &f.out, &f.in, f.bfd, f.cfd, &f.br, &f.cw, f.bhup)
	}
	switch {
	case err != nil:
		f.close(lp, err)
	case f.in.shut && f.out.shut:
		f.close(lp, nil)
	}
}

// pump moves one direction from src to dst: flush what is pending while
// dst takes it, read more while src has some and there is room. *sr and
// *dw are the readiness flags, cleared on EAGAIN (or a short read unless
// the peer has half-closed).
func (f *flow) pump(lp *loop, h, other *half, src, dst int, sr, dw *bool, hup bool) error {
	for {
		for h.pending() > 0 && *dw && dst >= 0 && !f.connecting {
			if err := f.drain(h, dst); err == unix.EAGAIN {
				*dw = false
			} else if err != nil {
				return err
			}
		}
		if h.eof || !*sr || !h.room() {
			break
		}
		if h.lim != nil && !f.tokens(lp, h) {
			break
		}
		if err := f.fill(lp, h, src, sr, hup); err != nil {
			return err
		}
	}
	if h.pending() > 0 {
		return nil
	}
	f.release(lp, h)
	if h.eof && !h.shut && dst >= 0 && !f.connecting {
		h.shut = true
		// If the other direction is finished too the flow closes now and
		// close(2) sends the FIN; otherwise half-close.
		if !other.shut {
			return unix.Shutdown(dst, unix.SHUT_WR)
		}
	}
	return nil
}

// room reports whether a read may go ahead: the buffer has space, or (splice
// mode) the pipe is empty, so that EAGAIN always means the source is empty.
func (h *half) room() bool {
	if h.splice && h.n == h.off {
		return h.inPipe == 0
	}
	return h.buf == nil || h.n < len(*h.buf)
}

// fill reads once from src.
func (f *flow) fill(lp *loop, h *half, src int, sr *bool, hup bool) error {
	var (
		n   int
		err error
	)
	if h.splice && h.n == h.off && !h.hasPipe {
		if !f.l.budget.takeFDs(2) {
			h.splice = false // no descriptors to spare: copy through the buffer
		} else if h.pipe, err = lp.getPipe(); err != nil {
			f.l.budget.putFDs(2)
			return fmt.Errorf("pipe: %w", err)
		} else {
			h.hasPipe = true
		}
	}
	if h.splice && h.n == h.off {
		for {
			var m int64
			m, err = unix.Splice(src, nil, h.pipe[1], nil, pipeSize, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
			if n = int(m); err != unix.EINTR {
				break
			}
		}
		if n > 0 {
			h.inPipe += n
		}
	} else {
		if h.buf == nil {
			h.buf, h.off, h.n = lp.getBuf(), 0, 0
		}
		b := (*h.buf)[h.n:]
		if h.lim != nil {
			b = b[:min(len(b), max(int(min(h.lim.available(nanos(lp.now)), float64(len(b)))), 1))]
		}
		for {
			n, err = unix.Read(src, b)
			if err != unix.EINTR {
				break
			}
		}
		if n > 0 {
			h.n += n
			if h.n == len(*h.buf) && h.lim == nil {
				h.splice = true // bulk: splice once this buffer is flushed
			} else if n < len(b) && !hup {
				*sr = false // drained: the next data brings a new edge
			}
		}
	}
	switch {
	case err == unix.EAGAIN:
		*sr = false
		return nil
	case err != nil:
		return err
	case n == 0:
		h.eof = true
		return nil
	}
	h.bytes += int64(n)
	f.lastActive = lp.now
	if h.lim != nil {
		h.lim.take(nanos(lp.now), n)
	}
	return nil
}

// drain writes pending bytes to dst once.
func (f *flow) drain(h *half, dst int) error {
	var (
		n   int
		err error
	)
	for {
		if h.n > h.off {
			n, err = unix.Write(dst, (*h.buf)[h.off:h.n])
		} else {
			var m int64
			m, err = unix.Splice(h.pipe[0], nil, dst, nil, h.inPipe, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
			n = int(m)
		}
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return err
	}
	if h.n > h.off {
		if h.off += n; h.off == h.n {
			h.off, h.n = 0, 0
		}
	} else {
		h.inPipe -= n
	}
	return nil
}

// tokens reports whether the bandwidth cap lets h read now; if not, the
// flow waits for the sweep that comes after enough tokens have accrued.
func (f *flow) tokens(lp *loop, h *half) bool {
	now := nanos(lp.now)
	if h.lim.available(now) >= 1 {
		return true
	}
	if h.resumeAt.IsZero() {
		// The bucket is shared with the endpoint's other connections:
		// whoever comes first after this takes the tokens, the others
		// wait again.
		h.resumeAt = lp.now.Add(time.Duration(max(h.lim.when(smallBufSize)-now, int64(time.Millisecond))))
		lp.sweepBy(h.resumeAt)
	}
	return false
}

// release returns an idle direction's buffer and pipe to the loop.
func (f *flow) release(lp *loop, h *half) {
	if h.buf != nil {
		lp.putBuf(h.buf)
		h.buf, h.off, h.n = nil, 0, 0
	}
	if h.hasPipe {
		lp.putPipe(h.pipe, h.inPipe == 0)
		h.hasPipe, h.inPipe = false, 0
		f.l.budget.putFDs(2)
	}
}

// check is the flow's part of a sweep: dial timeout, bandwidth wait, idle
// timeout, live byte counts.
func (f *flow) check(lp *loop, now time.Time) {
	if f.connecting && now.Sub(f.dialAt) >= DialTimeout {
		f.redial(lp, errors.New("connect: timed out"))
		return
	}
	resumed := false
	for _, h := range f.halves() {
		if !h.resumeAt.IsZero() && !now.Before(h.resumeAt) {
			h.resumeAt = time.Time{}
			resumed = true
		}
	}
	if resumed {
		if f.run(lp); f.closed {
			return
		}
	}
	if now.Sub(f.lastActive) >= f.st.idle {
		if f.l.log.Enabled(context.Background(), slog.LevelDebug) {
			f.l.log.Debug("closing idle connection", "src", f.src, "backend", f.backend, "idle_timeout", f.st.idle)
		}
		f.close(lp, nil)
		return
	}
	f.report()
}

// nextCheck is when the flow's next check is due: its dial deadline, the
// end of a bandwidth wait, or the idle-timeout cadence.
func (f *flow) nextCheck(now time.Time) time.Time {
	t := now.Add(sweepInterval(f.st.idle))
	if f.connecting {
		t = earlier(t, f.dialAt.Add(DialTimeout))
	}
	for _, h := range f.halves() {
		if !h.resumeAt.IsZero() {
			t = earlier(t, h.resumeAt)
		}
	}
	return t
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// report adds the bytes moved since the last report to the metrics.
func (f *flow) report() {
	for i, h := range f.halves() {
		if d := h.bytes - h.reported; d > 0 {
			f.st.met.addBytes(i == 0, d)
			h.reported = h.bytes
		}
	}
}

// close ends the flow: both sockets closed, buffers and pipes returned,
// counters settled.
func (f *flow) close(lp *loop, err error) {
	if f.closed {
		return
	}
	f.closed = true
	if err != nil && f.l.log.Enabled(context.Background(), slog.LevelDebug) {
		f.l.log.Debug("proxied connection aborted", "src", f.src, "backend", f.backend,
			"in", f.in.bytes, "out", f.out.bytes, "err", err)
	}
	lp.closeFD(f.cfd)
	if f.bfd >= 0 {
		lp.closeFD(f.bfd)
	}
	for _, h := range f.halves() {
		f.release(lp, h)
	}
	f.report()
	last := len(lp.flows) - 1
	lp.flows[f.idx] = lp.flows[last]
	lp.flows[f.idx].idx = f.idx
	lp.flows[last] = nil
	lp.flows = lp.flows[:last]
	lp.load.Add(-1)
	f.l.active.Add(-1)
	f.st.met.connClosed()
	f.l.budget.done(f.st.ep)
}
