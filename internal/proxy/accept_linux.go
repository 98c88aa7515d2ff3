//go:build linux

package proxy

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// acceptor is a listening socket's registration in one loop.
type acceptor struct {
	l  *Listener
	fd int
}

// event accepts one connection. The listening socket is level-triggered:
// while more connections wait, the next epoll_wait reports it again,
// interleaved with the loop's other work, and a connection-at-a-time load
// costs no accept4 that returns EAGAIN.
func (a *acceptor) event(lp *loop, _ int, _ uint32) {
	for {
		fd, src, err := accept(a.fd)
		switch err {
		case nil:
			t := lp.pick()
			t.load.Add(1)
			if t == lp {
				lp.admit(a.l, fd, src)
			} else {
				t.do(func() { t.admit(a.l, fd, src) })
			}
			return
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED, unix.EPROTO:
			continue
		}
		// Out of descriptors or memory (or the socket broke): stop
		// watching this listener for a moment instead of spinning on a
		// level-triggered event that accept cannot clear.
		a.l.warn("accept failed, pausing this listener", "err", err, "pause", stallPause)
		lp.unregister(a.fd)
		lp.stalled = append(lp.stalled, a)
		lp.sweepBy(lp.now.Add(stallPause))
		return
	}
}

// resume re-registers a stalled acceptor, unless its Listener is closed
// meanwhile (detach runs on this loop, so a closed Listener has had its
// context cancelled before).
func (a *acceptor) resume(lp *loop) {
	if a.l.ctx.Err() != nil {
		return
	}
	if err := lp.register(a.fd, a, unix.EPOLLIN|unix.EPOLLEXCLUSIVE); err != nil {
		a.l.log.Error("cannot resume accepting", "err", err)
	}
}

// pick returns the loop to own a connection accepted by lp: lp, unless
// another loop carries at least two connections fewer. The kernel wakes
// whichever loop waits for a listener, so a burst of connections (a client
// opening a pool) would otherwise all land on one loop.
func (lp *loop) pick() *loop {
	best, load := lp, lp.load.Load()
	for _, o := range lp.e.loops {
		if l := o.load.Load(); l+1 < load {
			best, load = o, l
		}
	}
	return best
}

// admit runs the security-group check on a freshly accepted socket and
// starts a flow for it. The caller has counted the flow in lp.load.
func (lp *loop) admit(l *Listener, fd int, src netip.AddrPort) {
	if l.ctx.Err() != nil { // handed over after the Listener closed
		lp.load.Add(-1)
		unix.Close(fd)
		return
	}
	st := l.st.Load()
	dst := l.laddr
	if !dst.Addr().IsValid() || dst.Addr().IsUnspecified() {
		dst = localAddr(fd)
	}
	if !st.allow(src, dst.Port()) {
		lp.load.Add(-1)
		st.met.sgDrop()
		resetFD(fd)
		if l.log.Enabled(context.Background(), slog.LevelDebug) {
			l.log.Debug("security group rejected connection", "src", src, "dst", dst)
		}
		return
	}
	if v := l.budget.admit(st.ep, lp.now); v != admitted {
		lp.load.Add(-1)
		st.met.reject(v)
		resetFD(fd)
		l.warn("connection refused by a limit", "reason", reasons[v], "src", src)
		return
	}
	f := &flow{l: l, st: st, cfd: fd, bfd: -1, src: src, dst: dst, lastActive: lp.now}
	err := f.prepare(lp)
	if err == nil {
		err = lp.register(fd, f, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET)
	}
	if err != nil {
		lp.load.Add(-1)
		l.budget.done(st.ep)
		f.release(lp, &f.in)
		unix.Close(fd)
		l.warn("cannot watch consumer connection", "src", src, "err", err)
		return
	}
	f.idx = len(lp.flows)
	lp.flows = append(lp.flows, f)
	l.active.Add(1)
	st.met.connOpened()
	lp.sweepBy(lp.now.Add(sweepInterval(st.idle)))
	f.dial(lp)
}

// resetFD closes a socket so that the peer sees a reset, not an orderly
// close.
func resetFD(fd int) {
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}

// recheck resets, on every loop, the flows of l that st's Allow refuses;
// it returns how many.
func (e *engine) recheck(l *Listener, st *state) int {
	var n atomic.Int64
	_ = e.onEveryLoop(func(lp *loop) error {
		for i := 0; i < len(lp.flows); {
			f := lp.flows[i]
			if f.l == l && !st.allow(f.src, f.dst.Port()) {
				_ = unix.SetsockoptLinger(f.cfd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
				f.close(lp, nil) // swaps the last flow into i
				st.met.reject(revokedSG)
				n.Add(1)
				continue
			}
			i++
		}
		return nil
	})
	return int(n.Load())
}

// accept accepts a connection as a non-blocking socket and returns the
// peer's address. (unix.Accept4 costs a getsockopt and an allocation per
// call to build its Sockaddr.)
func accept(lfd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	fd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)),
		uintptr(unsafe.Pointer(&n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if errno != 0 {
		return -1, netip.AddrPort{}, errno
	}
	return int(fd), rawAddrPort(&rsa), nil
}

// localAddr is the local address of a socket (getsockname), decoded like
// accept's peer address; zero on error.
func localAddr(fd int) netip.AddrPort {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	if _, _, errno := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&n))); errno != 0 {
		return netip.AddrPort{}
	}
	return rawAddrPort(&rsa)
}

// rawAddrPort decodes an IPv4 or IPv6 socket address (IPv4-mapped
// addresses unmapped).
func rawAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

func addrPortSockaddr(ap netip.AddrPort) unix.Sockaddr {
	if a := ap.Addr().Unmap(); a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}
