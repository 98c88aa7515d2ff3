package proxy

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// haveTCPInfo reports whether tcpCounters works, which the splice path needs
// for idle detection.
const haveTCPInfo = true

// tcpCounters returns tcpi_bytes_received and tcpi_bytes_acked of a TCP
// socket (Linux >= 4.1 / 4.2).
func tcpCounters(raw syscall.RawConn) (recv, acked uint64, ok bool) {
	if raw == nil {
		return 0, 0, false
	}
	var (
		ti  *unix.TCPInfo
		err error
	)
	if cerr := raw.Control(func(fd uintptr) {
		ti, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); cerr != nil || err != nil {
		return 0, 0, false
	}
	return ti.Bytes_received, ti.Bytes_acked, true
}

// ensureKeepAlive enables TCP keepalive on c unless it is already on (Go's
// net.Listen and net.Dialer enable it by default): one getsockopt instead of
// four setsockopts per socket on the connection-rate hot path.
func ensureKeepAlive(c *net.TCPConn) {
	if c == nil {
		return
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	on := 0
	if cerr := rc.Control(func(fd uintptr) {
		on, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	}); cerr != nil || err != nil {
		return
	}
	if on == 0 {
		_ = c.SetKeepAliveConfig(keepAlive)
	}
}

// setListenerKeepAlive enables keepalive on a listening socket. Linux copies
// SO_KEEPALIVE and the keepalive timers to every socket accepted from it, so
// consumer sockets get keepalive without a per-connection syscall (unless
// the listener was created with Go's default ListenConfig, which sets
// keepalive on each accepted socket itself).
func setListenerKeepAlive(ln net.Listener) bool {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return false
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if cerr := rc.Control(func(fd uintptr) { serr = setKeepAliveFD(int(fd)) }); cerr != nil || serr != nil {
		return false
	}
	return true
}

func setKeepAliveFD(fd int) error {
	for _, o := range []struct{ level, opt, val int }{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepAlive.Idle / time.Second)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepAlive.Interval / time.Second)},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAlive.Count},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.val); err != nil {
			return err
		}
	}
	return nil
}
