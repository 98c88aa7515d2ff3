package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// UDPProbeWait is how long a UDP probe without an expected reply waits
// for an ICMP port unreachable before calling the backend healthy.
const UDPProbeWait = 300 * time.Millisecond

// UDPProbe returns a DialFunc for NewHealth that checks UDP backends: it
// sends payload (an empty datagram if nil) on a connected socket made by
// dial and
//   - with expect nil: fails on ICMP port unreachable (ECONNREFUSED)
//     within UDPProbeWait, succeeds otherwise (a reply or silence: UDP
//     cannot tell an open port from a filtered one);
//   - with expect set: succeeds only on a reply containing expect within
//     the probe timeout.
//
// A Health for UDP backends must be separate from the TCP one: both key
// backends by address and port.
func UDPProbe(dial UDPDialFunc, payload, expect []byte) DialFunc {
	return func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
		c, err := dial(addr)
		if err != nil {
			return nil, err
		}
		deadline := time.Now().Add(UDPProbeWait)
		if expect != nil {
			deadline, _ = ctx.Deadline()
		}
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = c.SetDeadline(deadline)
		if _, err := c.Write(payload); err != nil {
			c.Close()
			return nil, udpProbeErr(err)
		}
		buf := make([]byte, 2048)
		for {
			n, err := c.Read(buf)
			var ne net.Error
			switch {
			case err == nil && expect == nil:
				return c, nil
			case err == nil && bytes.Contains(buf[:n], expect):
				return c, nil
			case err == nil:
				continue // not the reply we expect; wait for another
			case errors.As(err, &ne) && ne.Timeout() && expect == nil:
				return c, nil // no ICMP: open or filtered
			case errors.As(err, &ne) && ne.Timeout():
				c.Close()
				return nil, fmt.Errorf("no reply containing %q from %s", expect, addr)
			default:
				c.Close()
				return nil, udpProbeErr(err)
			}
		}
	}
}

func udpProbeErr(err error) error {
	if isRefused(err) {
		return fmt.Errorf("ICMP unreachable: %w", err)
	}
	return err
}
