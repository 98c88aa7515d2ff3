//go:build !linux

package netdrv

import (
	"errors"
	"log/slog"
	"net/netip"
)

// NewNetns fails: network namespaces are Linux-only.
func NewNetns(prefix string, log *slog.Logger) (Driver, error) {
	return nil, errors.New("netdrv: the netns driver needs Linux (use the loopback driver instead)")
}

func tcpSocket(netip.AddrPort) (int, error) { return -1, errors.ErrUnsupported }
