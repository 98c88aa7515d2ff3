package proxy

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestKeepAliveBothSides uses a listener and a dialer that disable
// keepalive; the proxy must turn it on for both of its sockets.
func TestKeepAliveBothSides(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	lc := ListenConfig() // keepalive off on accepted sockets unless inherited
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	noKA := func(ctx context.Context, a netip.AddrPort) (net.Conn, error) {
		d := net.Dialer{KeepAlive: -1}
		return d.DialContext(ctx, "tcp", a.String())
	}
	l := NewListener(ln, modeConfig(modes[0].cfg, srv.addr()), noKA, nil, nil)
	go l.Serve()
	defer l.Close()
	c := dial(t, ln.Addr().String())
	roundTrip(t, c, "x")

	conns := l.snapshot(nil)
	if len(conns) != 1 {
		t.Fatalf("%d live connections", len(conns))
	}
	for name, tc := range map[string]*net.TCPConn{"consumer": conns[0].ctcp, "backend": conns[0].btcp} {
		rc, err := tc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var on, idle int
		rc.Control(func(fd uintptr) {
			on, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			idle, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		})
		if on != 1 || time.Duration(idle)*time.Second != keepAlive.Idle {
			t.Errorf("%s side: SO_KEEPALIVE=%d TCP_KEEPIDLE=%ds, want 1 and %v", name, on, idle, keepAlive.Idle)
		}
	}
}
