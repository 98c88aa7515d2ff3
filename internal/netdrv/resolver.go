package netdrv

import (
	"context"
	"net"
	"net/netip"
	"strings"
)

// HostResolver returns a Go resolver that asks server (a VPC resolver
// address) from inside the host, over UDP and TCP, as the host's own
// resolv.conf would.
func HostResolver(hs Sockets, hostID string, server netip.AddrPort) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		if strings.HasPrefix(network, "tcp") {
			return hs.DialHost(ctx, hostID, server)
		}
		pc, err := hs.ListenPacketHost(hostID, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
		if err != nil {
			return nil, err
		}
		return &udpConn{PacketConn: pc, to: net.UDPAddrFromAddrPort(server)}, nil
	}}
}

// udpConn turns an unconnected packet socket into a net.Conn to one peer.
type udpConn struct {
	net.PacketConn
	to net.Addr
}

func (u *udpConn) Read(p []byte) (int, error)  { n, _, err := u.ReadFrom(p); return n, err }
func (u *udpConn) Write(p []byte) (int, error) { return u.WriteTo(p, u.to) }
func (u *udpConn) RemoteAddr() net.Addr        { return u.to }
