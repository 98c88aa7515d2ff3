//go:build linux

package netdrv

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// dialIn dials TCP from inside a namespace. Only socket(2) runs on the
// thread switched into the namespace; the connect then proceeds on the
// runtime's poller like any other dial. (Calling net.Dialer on the switched
// thread works too, but the goroutine then parks in the poller while locked
// to its thread, and every wake-up needs an OS-thread hand-off: ~1.5x the
// cost of a plain dial, see BenchmarkDialInNSLockedDialer; this way a dial in
// a namespace costs about the same as a plain one.)
func (d *NetnsDriver) dialIn(ctx context.Context, get func() (netns.NsHandle, error), addr netip.AddrPort) (net.Conn, error) {
	addr = unmapAP(addr)
	family, sa := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()})
	if addr.Addr().Is6() {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
	}
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: tcpNet(addr.Addr()), Addr: net.TCPAddrFromAddrPort(addr), Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(err)
	}
	fd := -1
	err := d.runIn(get, func() (err error) {
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		return os.NewSyscallError("socket", err)
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, opErr(err)
	}
	c, err := connectFD(ctx, fd, sa)
	if err != nil {
		return nil, opErr(err)
	}
	return c, nil
}

// connectFD connects a non-blocking socket and wraps it as a net.Conn (with
// Go's dial defaults: TCP_NODELAY, keep-alive). fd is consumed.
func connectFD(ctx context.Context, fd int, sa unix.Sockaddr) (net.Conn, error) {
	err := unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		unix.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	f := os.NewFile(uintptr(fd), "netdrv-dial") // non-blocking: pollable
	defer f.Close()
	if err != nil { // in progress: wait for writability like net.Dialer
		if dl, ok := ctx.Deadline(); ok {
			f.SetWriteDeadline(dl)
		}
		stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
		rc, err := f.SyscallConn()
		if err != nil {
			stop()
			return nil, err
		}
		var soErr error
		werr := rc.Write(func(fd uintptr) bool {
			v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				soErr = os.NewSyscallError("getsockopt", err)
				return true
			}
			switch e := unix.Errno(v); e {
			case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
				return false
			case 0:
				_, err := unix.Getpeername(int(fd))
				return err == nil // spurious wake-up otherwise
			default:
				soErr = os.NewSyscallError("connect", e)
				return true
			}
		})
		stop()
		if werr != nil {
			if cerr := ctx.Err(); errors.Is(cerr, context.Canceled) {
				return nil, cerr
			}
			return nil, werr // os.ErrDeadlineExceeded: a net.Error with Timeout()
		}
		if soErr != nil {
			return nil, soErr
		}
	}
	return net.FileConn(f)
}
