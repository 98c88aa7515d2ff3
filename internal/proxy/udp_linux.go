package proxy

import (
	"net"

	"golang.org/x/sys/unix"
)

// recvDatagram waits for a datagram on c without holding a buffer (a
// zero-length MSG_PEEK tells one is there), then reads it into a buffer
// from datagramBufs, which the caller returns. Idle flows thus cost no
// 64 KiB buffer each. A pending socket error (ICMP unreachable:
// ECONNREFUSED) is returned as the error.
func recvDatagram(c *net.UDPConn) (*[]byte, int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, 0, err
	}
	var (
		bp   *[]byte
		n    int
		rerr error
	)
	err = rc.Read(func(fd uintptr) bool {
		if _, _, perr := unix.Recvfrom(int(fd), nil, unix.MSG_PEEK|unix.MSG_DONTWAIT); perr == unix.EAGAIN {
			return false
		} else if perr != nil && perr != unix.EINTR {
			rerr = perr
			return true
		}
		bp = datagramBufs.Get().(*[]byte)
		n, _, rerr = unix.Recvfrom(int(fd), *bp, unix.MSG_DONTWAIT)
		if rerr == unix.EAGAIN {
			datagramBufs.Put(bp)
			bp, rerr = nil, nil
			return false
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		if bp != nil {
			datagramBufs.Put(bp)
		}
		return nil, 0, err
	}
	return bp, n, nil
}
