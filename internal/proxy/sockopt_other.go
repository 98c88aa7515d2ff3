//go:build !linux

package proxy

import (
	"net"
	"syscall"
)

// haveTCPInfo is false off Linux: without kernel byte counters the sweeper
// cannot see spliced traffic, so every connection uses the counting
// user-space copy (Go does not splice there anyway).
const haveTCPInfo = false

func tcpCounters(syscall.RawConn) (recv, acked uint64, ok bool) { return 0, 0, false }

// ensureKeepAlive enables TCP keepalive on c.
func ensureKeepAlive(c *net.TCPConn) {
	if c != nil {
		_ = c.SetKeepAliveConfig(keepAlive)
	}
}

// setListenerKeepAlive reports false: inheritance is not relied upon here.
func setListenerKeepAlive(net.Listener) bool { return false }
