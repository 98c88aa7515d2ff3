//go:build !linux

package netdrv

import (
	"errors"
	"log/slog"
	"net/netip"
)

// newNetnsDriver fails: network namespaces are Linux-only.
func newNetnsDriver(prefix string, log *slog.Logger) (Driver, error) {
	return Driver{}, errors.New("netdrv: the netns driver needs Linux (use the loopback driver instead)")
}

func tcpSocket(netip.AddrPort) (int, error) { return -1, errors.ErrUnsupported }
