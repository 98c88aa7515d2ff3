//go:build linux

package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Socket is a SocketFunc for backends reachable from the current network
// namespace.
func Socket(addr netip.AddrPort) (int, netip.AddrPort, error) {
	family := unix.AF_INET6
	if addr.Addr().Unmap().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	return fd, addr, err
}

// startEngine hands ln's socket to the engine, if the Listener was given a
// SocketFunc and ln is a TCP listener; it reports whether it did. The
// engine works on a duplicate of the socket and ln is closed, so that Go's
// poller no longer watches it. Called with l.mu held.
func (l *Listener) startEngine() (bool, error) {
	e, fd, ok, err := l.engineSocket()
	if !ok || err != nil {
		return ok, err
	}
	if err := e.attach(l, fd); err != nil {
		unix.Close(fd)
		return true, err
	}
	l.eng, l.lfd = e, fd
	return true, nil
}

// engineSocket is startEngine up to the engine's registration: it returns
// the engine and the socket for it (ln closed), or ok false when l does
// not run on the engine. Called with l.mu held.
func (l *Listener) engineSocket() (e *engine, fd int, ok bool, err error) {
	tl, ok := l.ln.(*net.TCPListener)
	if !ok || l.sockets == nil {
		return nil, -1, false, nil
	}
	e, err = sharedEngine()
	if err != nil {
		return nil, -1, true, err
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, -1, true, fmt.Errorf("proxy: listener socket: %w", err)
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) {
		if fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0); derr == nil {
			// Accepted sockets inherit TCP_NODELAY and keepalive.
			if derr = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); derr == nil && !l.lnKeepAlive {
				derr = setKeepAliveFD(fd)
			}
		}
	}); err != nil || derr != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, -1, true, fmt.Errorf("proxy: listener socket: %w", errors.Join(err, derr))
	}
	_ = tl.Close()
	return e, fd, true, nil
}

// StartMany is Start for many Listeners: the engine registers all their
// sockets in one task per loop, where one by one costs a round trip to
// every loop per Listener (after a restart with thousands of listeners,
// mostly waiting for the loops to be scheduled). started[i] and errs[i]
// are Start's for ls[i]; one Listener failing does not fail the others.
func StartMany(ls []*Listener) (started []bool, errs []error) {
	started, errs = make([]bool, len(ls)), make([]error, len(ls))
	var e *engine
	var todo []*Listener // each with l.mu held until registered
	var fds, at []int    // todo[j]'s socket, and its index in ls
	for i, l := range ls {
		l.mu.Lock()
		if errs[i] = l.startable(); errs[i] != nil {
			l.mu.Unlock()
			continue
		}
		le, fd, ok, err := l.engineSocket()
		if !ok && err == nil {
			l.mu.Unlock() // needs Serve
			continue
		}
		started[i], l.serving = true, true
		if err != nil {
			l.mu.Unlock()
			errs[i] = err
			continue
		}
		e = le // the one shared engine
		todo, fds, at = append(todo, l), append(fds, fd), append(at, i)
	}
	if len(todo) == 0 {
		return started, errs
	}
	for j, err := range e.attachMany(todo, fds) {
		l := todo[j]
		if err != nil {
			unix.Close(fds[j])
			errs[at[j]] = err
		} else {
			l.eng, l.lfd = e, fds[j]
		}
		l.mu.Unlock()
	}
	return started, errs
}

// stop detaches l from the engine (closing its flows) and closes the
// engine's copy of the listening socket (unless StopAcceptingMany did); it
// returns the flows closed.
func (e *engine) stop(l *Listener) (int, error) {
	n := e.detach(l, l.lfd)
	if l.lfd < 0 {
		return n, nil
	}
	if err := unix.Close(l.lfd); err != nil {
		return n, fmt.Errorf("proxy: close listener %s: %w", l.laddr, err)
	}
	return n, nil
}

// FD is the listening socket the engine accepts on (-1: not on the
// engine, or no longer accepting), for a handoff to a successor process.
// It stays l's: the caller must not close it.
func (l *Listener) FD() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.eng == nil || l.closed {
		return -1
	}
	return l.lfd // -1 after StopAcceptingMany
}

// StopAcceptingMany stops the Listeners taking connections from their
// listening sockets and closes their copies, keeping the open connections
// (Close still ends them). Other holders of a socket, a successor after a
// handoff, go on accepting, including the connections already waiting in
// its queue. The engine drops all the sockets in one task per loop (one by
// one costs a round trip to every loop per Listener: seconds at 10,000).
// It returns the errors closing the sockets, joined.
func StopAcceptingMany(ls []*Listener) error {
	var e *engine
	var todo []*Listener // each with l.mu held until its socket is closed
	var fds []int
	for _, l := range ls {
		l.mu.Lock()
		if l.eng == nil || l.closed || l.lfd < 0 {
			l.mu.Unlock()
			continue
		}
		e, todo, fds = l.eng, append(todo, l), append(fds, l.lfd)
	}
	if len(todo) == 0 {
		return nil
	}
	_ = e.onEveryLoop(func(lp *loop) error {
		for i, l := range todo {
			lp.unaccept(l, fds[i])
		}
		return nil
	})
	var errs []error
	for i, l := range todo {
		if err := unix.Close(fds[i]); err != nil {
			errs = append(errs, fmt.Errorf("proxy: close listener %s: %w", l.laddr, err))
		}
		l.lfd = -1
		l.mu.Unlock()
	}
	return errors.Join(errs...)
}
