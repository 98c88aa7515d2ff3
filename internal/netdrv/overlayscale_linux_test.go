package netdrv

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestOverlayEntriesScale programs 1000 remote addresses over 8 peer
// nodes, re-applies the same set (the agent does so every round), moves
// 100 of them to another peer and removes everything, checking the dumped
// entries each time. Durations are logged (informative, never asserted).
func TestOverlayEntriesScale(t *testing.T) {
	needRoot(t)
	l := newOvLab(t, 1, 1550)
	d := l.nodes[0].d
	vpc := newID("vpc")
	ok(t, d.EnsureVPC(vpc))
	ok(t, d.EnsureOverlay(vpc, 4096))
	var peers []Peer
	for i := 2; i < 10; i++ {
		u := netip.AddrFrom4([4]byte{10, 255, 0, byte(i)})
		peers = append(peers, Peer{MAC: VTEPMAC(u), Underlay: u})
	}
	e := Entries{Peers: peers, Remote: map[netip.Addr]net.HardwareAddr{}}
	for i := range 1000 {
		e.Remote[netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})] = peers[i%len(peers)].MAC
	}
	step := func(what string, e Entries) {
		t.Helper()
		start := time.Now()
		ok(t, d.SetOverlayEntries(vpc, e))
		el := time.Since(start)
		got, want := dumpEntries(t, d, vpc), entryStrings(e)
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries dumped, want %d", what, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: entry %d is %q, want %q", what, i, got[i], want[i])
			}
		}
		t.Logf("%s: %d entries in %v", what, len(want), el.Round(time.Millisecond))
	}
	step("first apply (1000 remote addresses, 8 peers)", e)
	step("re-apply, nothing changes", e)
	for i := range 100 {
		e.Remote[netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})] = peers[(i+1)%len(peers)].MAC
	}
	step("move 100 addresses to another peer", e)
	step("remove everything", Entries{})
}
