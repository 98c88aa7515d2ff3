package main_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/privlink/privlink/internal/testenv"
)

// pingConn is a connection from a host to an echo service (through an
// endpoint) that sends "ping" lines and expects them back.
type pingConn struct {
	net.Conn
	r *bufio.Reader
}

func dialPing(e *testenv.Env, hostID string, to netip.AddrPort) (*pingConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := e.Driver.Sockets.DialHost(ctx, hostID, to)
	if err != nil {
		return nil, err
	}
	return &pingConn{Conn: c, r: bufio.NewReader(c)}, nil
}

// ping is one round trip on the connection.
func (c *pingConn) ping() error { return c.pingWithin(2 * time.Second) }

// pingWithin is one round trip on the connection within d.
func (c *pingConn) pingWithin(d time.Duration) error {
	c.SetDeadline(time.Now().Add(d))
	fmt.Fprintln(c, "ping")
	line, err := c.r.ReadString('\n')
	if err == nil && line != "ping\n" {
		err = fmt.Errorf("echo %q", line)
	}
	return err
}

// pingOnce is one round trip on a new connection.
func pingOnce(e *testenv.Env, hostID string, to netip.AddrPort) error {
	c, err := dialPing(e, hostID, to)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.ping()
}
