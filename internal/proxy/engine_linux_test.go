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
	v4 := func(a string, port uint16) unix.RawSockaddrAny {
		var rsa unix.RawSockaddrAny
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		sa.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port)
		sa.Addr = netip.MustParseAddr(a).As4()
		return rsa
	}
	v6 := func(a string, port uint16) unix.RawSockaddrAny {
		var rsa unix.RawSockaddrAny
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		sa.Family = unix.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], port)
		sa.Addr = netip.MustParseAddr(a).As16()
		return rsa
	}
	for _, tc := range []struct {
		name string
		rsa  unix.RawSockaddrAny
		want string
	}{
		{"ipv4", v4("192.168.0.10", 6001), "192.168.0.10:6001"},
		{"ipv4 high port", v4("10.0.0.1", 65535), "10.0.0.1:65535"},
		{"ipv6", v6("fd00::1", 443), "[fd00::1]:443"},
		{"ipv4-mapped", v6("::ffff:10.1.2.3", 80), "10.1.2.3:80"},
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
