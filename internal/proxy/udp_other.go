//go:build !linux

package proxy

import "net"

// recvDatagram reads a datagram from c into a buffer from datagramBufs,
// which the caller returns (held while waiting, unlike on Linux).
func recvDatagram(c *net.UDPConn) (*[]byte, int, error) {
	bp := datagramBufs.Get().(*[]byte)
	n, err := c.Read(*bp)
	if err != nil {
		datagramBufs.Put(bp)
		return nil, 0, err
	}
	return bp, n, nil
}
