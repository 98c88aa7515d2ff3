//go:build linux

package netdrv

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// probeIPv6Gateway waits until the host in ns gets an echo reply from its
// IPv6 gateway gw (one request every 100 ms, at most limit): a new dual-
// stack host's first IPv6 packets were lost in about half of the tries
// (the first connect then cost a 1 s SYN retransmission), so EnsureHost
// returns once the path to the gateway carries packets both ways, as it
// waits for the links' carrier for IPv4.
func (d *NetnsDriver) probeIPv6Gateway(ns netns.NsHandle, gw netip.Addr, limit time.Duration) error {
	var fd int
	if err := nsfs.In(d.origin, ns, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		return err
	}); err != nil {
		return fmt.Errorf("probe socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	var rnd [2]byte
	rand.Read(rnd[:]) //nolint:errcheck // never fails
	id := int(binary.BigEndian.Uint16(rnd[:]))
	buf := make([]byte, 1500)
	end := time.Now().Add(limit)
	for seq := 1; time.Now().Before(end); seq++ {
		b, err := (&icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("privlink")}}).Marshal(nil)
		if err != nil {
			return err
		}
		if err := unix.Sendto(fd, b, 0, &unix.SockaddrInet6{Addr: gw.As16()}); err != nil {
			return fmt.Errorf("probe %s: %w", gw, err)
		}
		for next := time.Now().Add(100 * time.Millisecond); time.Now().Before(next); {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return fmt.Errorf("probe %s: %w", gw, err)
			}
			if m, err := icmp.ParseMessage(58, buf[:n]); err == nil && m.Type == ipv6.ICMPTypeEchoReply {
				if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("no echo reply from the IPv6 gateway %s within %v", gw, limit)
}
