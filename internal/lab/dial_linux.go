//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"

	"github.com/privlink/privlink/internal/client"
)

// DialContext dials from a socket made inside the node namespace (as
// internal/netdrv does for VPCs): the thread enters the namespace, the
// socket is created there, and the dialer's Control hook (after socket(2),
// before connect(2)) switches the thread back, so the connect runs on the
// runtime's poller like any other dial. Its signature fits
// http.Transport.DialContext.
func (n *Node) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := n.inside(func(control func(string, string, syscall.RawConn) error) error {
		d := net.Dialer{Control: control}
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// Listen opens a listener whose socket lives in the node namespace
// (accepting works from any goroutine).
func (n *Node) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.inside(func(control func(string, string, syscall.RawConn) error) error {
		lc := net.ListenConfig{Control: control}
		var err error
		ln, err = lc.Listen(ctx, network, addr)
		return err
	})
	return ln, err
}

// inside runs fn with the calling thread in the node namespace until the
// control hook it hands to fn runs (or fn returns).
func (n *Node) inside(fn func(control func(string, string, syscall.RawConn) error) error) error {
	origin := n.lab.origin
	runtime.LockOSThread()
	if err := netns.Set(n.ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lab: enter %s: %w", n.Namespace, err)
	}
	in := true
	var restoreErr error
	restore := func() error {
		if in {
			in = false
			if restoreErr = netns.Set(origin); restoreErr != nil {
				// Stuck in the node namespace: stay locked, so no other
				// goroutine runs on this thread.
				return fmt.Errorf("lab: restore netns: %w", restoreErr)
			}
			runtime.UnlockOSThread()
		}
		return restoreErr
	}
	err := fn(func(string, string, syscall.RawConn) error { return restore() })
	if rerr := restore(); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// Client returns a typed API client of the server at base (e.g.
// "https://10.255.0.1:8443") whose connections are made inside the node
// namespace. caFile verifies the server's certificate ("" for the
// system's roots or plain HTTP).
func (n *Node) Client(base, token, caFile string) (*client.Client, error) {
	c, err := client.NewTLS(base, token, caFile)
	if err != nil {
		return nil, err
	}
	return c.WithDialer(n.DialContext), nil
}
