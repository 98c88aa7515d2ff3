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
	tl, ok := l.ln.(*net.TCPListener)
	if !ok || l.sockets == nil {
		return false, nil
	}
	e, err := sharedEngine()
	if err != nil {
		return true, err
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return true, fmt.Errorf("proxy: listener socket: %w", err)
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
		return true, fmt.Errorf("proxy: listener socket: %w", errors.Join(err, derr))
	}
	_ = tl.Close()
	if err := e.attach(l, fd); err != nil {
		unix.Close(fd)
		return true, err
	}
	l.eng, l.lfd = e, fd
	return true, nil
}

// stop detaches l from the engine (closing its flows) and closes the
// engine's copy of the listening socket; it returns the flows closed.
func (e *engine) stop(l *Listener) (int, error) {
	n := e.detach(l, l.lfd)
	if err := unix.Close(l.lfd); err != nil {
		return n, fmt.Errorf("proxy: close listener %s: %w", l.laddr, err)
	}
	return n, nil
}
