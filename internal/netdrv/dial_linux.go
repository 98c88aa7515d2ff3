//go:build linux

package netdrv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"
)

// dialIn dials TCP from inside a namespace with a plain net.Dialer: the
// calling thread enters the namespace, Go creates the socket there, and the
// dialer's Control hook (which runs after socket(2), before connect(2))
// switches the thread back and unlocks it. The connect then proceeds on the
// runtime's poller like any other dial: no locked thread parks, no
// descriptor is duplicated or registered twice. A dial in a namespace costs
// two setns(2) more than a plain one.
func (d *NetnsDriver) dialIn(ctx context.Context, get func() (netns.NsHandle, error), addr netip.AddrPort) (net.Conn, error) {
	addr = unmapAP(addr)
	runtime.LockOSThread()
	d.mu.RLock()
	ns, err := get()
	if err == nil {
		err = netns.Set(ns)
	}
	d.mu.RUnlock()
	if err != nil { // setns is all-or-nothing: still in the original namespace
		runtime.UnlockOSThread()
		return nil, &net.OpError{Op: "dial", Net: tcpNet(addr.Addr()), Addr: net.TCPAddrFromAddrPort(addr), Err: err}
	}
	inside := true
	var restoreErr error
	restore := func() error {
		if inside {
			inside = false
			if restoreErr = netns.Set(d.origin); restoreErr != nil {
				// Stuck in the foreign namespace: stay locked so no other
				// goroutine runs on this thread.
				d.log.Error("netdrv: cannot restore network namespace; thread quarantined", "err", restoreErr)
				return fmt.Errorf("netdrv: restore netns: %w", restoreErr)
			}
			runtime.UnlockOSThread()
		}
		return restoreErr
	}
	dialer := net.Dialer{Control: func(string, string, syscall.RawConn) error { return restore() }}
	c, err := dialer.DialContext(ctx, tcpNet(addr.Addr()), addr.String())
	if rerr := restore(); rerr != nil && err == nil { // Control not reached
		c.Close()
		return nil, rerr
	}
	return c, err
}
