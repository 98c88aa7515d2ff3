package agent_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/testenv"
)

var bg = context.Background()

// serveHello runs a backend in a host that answers each line with "<name> <line>".
func serveHello(t *testing.T, e *testenv.Env, hostID string, port uint16, name string) {
	t.Helper()
	e.Serve(t, hostID, port, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := io.WriteString(c, name+" "+line); err != nil {
				return
			}
		}
	})
}

// dialFrom connects from inside a host.
func dialFrom(t *testing.T, e *testenv.Env, hostID, addr string) (net.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	return e.Driver.Sockets.DialHost(ctx, hostID, netip.MustParseAddrPort(addr))
}

// hello sends one line from a host to addr and returns the answer.
func hello(t *testing.T, e *testenv.Env, hostID, addr string) (string, error) {
	t.Helper()
	c, err := dialFrom(t, e, hostID, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "hi\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
