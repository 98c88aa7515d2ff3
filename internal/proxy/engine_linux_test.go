//go:build linux

package proxy

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestRawAddrPort(t *testing.T) {
	// raw encodes ap as the kernel does: AF_INET for IPv4, AF_INET6 for
	// anything else (IPv4-mapped included).
	raw := func(ap string) unix.RawSockaddrAny {
		a := netip.MustParseAddrPort(ap)
		var rsa unix.RawSockaddrAny
		var port *uint16
		if a.Addr().Is4() {
			sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
			sa.Family, sa.Addr, port = unix.AF_INET, a.Addr().As4(), &sa.Port
		} else {
			sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
			sa.Family, sa.Addr, port = unix.AF_INET6, a.Addr().As16(), &sa.Port
		}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(port))[:], a.Port())
		return rsa
	}
	for _, tc := range []struct {
		name string
		rsa  unix.RawSockaddrAny
		want string
	}{
		{"ipv4", raw("192.168.0.10:6001"), "192.168.0.10:6001"},
		{"ipv4 high port", raw("10.0.0.1:65535"), "10.0.0.1:65535"},
		{"ipv6", raw("[fd00::1]:443"), "[fd00::1]:443"},
		{"ipv4-mapped", raw("[::ffff:10.1.2.3]:80"), "10.1.2.3:80"},
		{"unknown family", unix.RawSockaddrAny{}, "invalid AddrPort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawAddrPort(&tc.rsa).String(); got != tc.want {
				t.Errorf("rawAddrPort = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestPick: a loop keeps a new connection unless another carries at least
// two fewer.
func TestPick(t *testing.T) {
	for _, tc := range []struct {
		loads []int64
		want  int // index of the loop picked by loop 0
	}{
		{[]int64{0, 0}, 0},
		{[]int64{1, 0}, 0},
		{[]int64{2, 0}, 1},
		{[]int64{5, 4, 3}, 2},
		{[]int64{5, 3, 4}, 1},
		{[]int64{0, 9}, 0},
	} {
		e := &engine{}
		for _, l := range tc.loads {
			lp := &loop{e: e}
			lp.load.Store(l)
			e.loops = append(e.loops, lp)
		}
		if got := e.loops[0].pick(); got != e.loops[tc.want] {
			t.Errorf("loads %v: picked loop with load %d, want loop %d", tc.loads, got.load.Load(), tc.want)
		}
	}
}
