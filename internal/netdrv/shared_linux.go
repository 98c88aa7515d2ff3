package netdrv

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort lets several processes (the server's resolver and standalone
// agents on the same machine) serve one VPC resolver address; the kernel
// spreads queries over them and the others carry on when one stops.
var reusePort = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) }); err != nil {
		return err
	}
	return serr
}}

// ListenShared implements Sockets: a TCP listener inside the VPC that other
// processes may bind to the same address too (SO_REUSEPORT). For resolver
// sockets only.
func (d *NetnsDriver) ListenShared(vpcID string, addr netip.AddrPort) (ln net.Listener, err error) {
	err = d.runInVPC(vpcID, func() (e error) {
		ln, e = reusePort.Listen(context.Background(), tcpNet(addr.Addr()), unmapAP(addr).String())
		return
	})
	return closeOnErr(ln, err)
}

// ListenPacketShared implements Sockets: ListenShared for UDP.
func (d *NetnsDriver) ListenPacketShared(vpcID string, addr netip.AddrPort) (pc net.PacketConn, err error) {
	err = d.runInVPC(vpcID, func() (e error) {
		pc, e = reusePort.ListenPacket(context.Background(), udpNet(addr.Addr()), unmapAP(addr).String())
		return
	})
	return closeOnErr(pc, err)
}
