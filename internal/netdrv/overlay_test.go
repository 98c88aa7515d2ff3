package netdrv

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestOverlayNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{VTEPMAC(netip.MustParseAddr("10.255.0.1")).String(), "02:00:0a:ff:00:01"},
		{VTEPMAC(netip.MustParseAddr("::ffff:10.0.0.2")).String(), "02:00:0a:00:00:02"},
		{GatewayMAC(4096).String(), "02:01:00:00:10:00"},
		{GatewayMAC(MaxVNI).String(), "02:01:00:ff:ff:ff"},
		{OverlayAddr(1).String(), "169.254.0.1"},
		{OverlayAddr(258).String(), "169.254.1.2"},
		{OverlayAddr(MaxNodeIndex).String(), "169.254.127.255"},
		{OverlayAddr(0).String(), "invalid IP"},
		{OverlayAddr(MaxNodeIndex + 1).String(), "invalid IP"},
		{OverlayAddr6(1).String(), "100::1"},
		{OverlayAddr6(258).String(), "100::102"},
		{OverlayAddr6(MaxNodeIndex).String(), "100::7fff"},
		{OverlayAddr6(0).String(), "invalid IP"},
		{VXLANName("vpc-abcdefghijklmnopqrst"), "vx-mnopqrst"},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	for i := 1; i <= MaxNodeIndex; i += 97 {
		if a := OverlayAddr(i); !OverlayPrefix.Contains(a) || a == ResolverIP {
			t.Fatalf("OverlayAddr(%d) = %s outside %s", i, a, OverlayPrefix)
		}
		if a := OverlayAddr6(i); !OverlayPrefix6.Contains(a) || netip.MustParsePrefix("fc00::/7").Contains(a) {
			t.Fatalf("OverlayAddr6(%d) = %s outside %s or inside the VPCs' fc00::/7", i, a, OverlayPrefix6)
		}
	}
}

func TestOverlayEntryValidation(t *testing.T) {
	self, self6 := OverlayAddr(1), OverlayAddr6(1)
	u2 := netip.MustParseAddr("10.0.0.2")
	peer := Peer{MAC: VTEPMAC(u2), Underlay: u2}
	remote := func(a string, mac net.HardwareAddr) map[netip.Addr]net.HardwareAddr {
		return map[netip.Addr]net.HardwareAddr{netip.MustParseAddr(a): mac}
	}
	for _, c := range []struct {
		name string
		e    Entries
		want string // "" = valid
	}{
		{"empty", Entries{}, ""},
		{"peer and remote", Entries{Peers: []Peer{peer}, Remote: remote("192.168.0.12", peer.MAC)}, ""},
		{"remote of an unknown node", Entries{Peers: []Peer{peer}, Remote: remote("192.168.0.12", VTEPMAC(netip.MustParseAddr("10.0.0.3")))}, "no peer's MAC"},
		{"remote without peers", Entries{Remote: remote("192.168.0.12", peer.MAC)}, "no peer's MAC"},
		{"own overlay address", Entries{Peers: []Peer{peer}, Remote: remote(self.String(), peer.MAC)}, "own overlay address"},
		{"IPv6 remote of an IPv4-only copy", Entries{Peers: []Peer{peer}, Remote: remote("fd00::1", peer.MAC)}, "IPv4-only"},
		{"IPv6 remote", Entries{IPv6: true, Peers: []Peer{peer}, Remote: remote("fd00::1", peer.MAC)}, ""},
		{"IPv6 overlay address of a peer", Entries{IPv6: true, Peers: []Peer{peer}, Remote: remote(OverlayAddr6(2).String(), peer.MAC)}, ""},
		{"own IPv6 overlay address", Entries{IPv6: true, Peers: []Peer{peer}, Remote: remote(self6.String(), peer.MAC)}, "own overlay address"},
		{"IPv6 link-local remote", Entries{IPv6: true, Peers: []Peer{peer}, Remote: remote("fe80::1", peer.MAC)}, "global or unique-local"},
		{"IPv6 multicast remote", Entries{IPv6: true, Peers: []Peer{peer}, Remote: remote("ff02::1", peer.MAC)}, "global or unique-local"},
		{"IPv6 remote of an unknown node", Entries{IPv6: true, Peers: []Peer{peer}, Remote: remote("fd00::1", VTEPMAC(netip.MustParseAddr("10.0.0.3")))}, "no peer's MAC"},
		{"IPv6 peer", Entries{Peers: []Peer{{MAC: peer.MAC, Underlay: netip.MustParseAddr("fd00::2")}}}, "want an IPv4"},
		{"multicast peer", Entries{Peers: []Peer{{MAC: peer.MAC, Underlay: netip.MustParseAddr("239.1.1.1")}}}, "want an IPv4"},
		{"short MAC", Entries{Peers: []Peer{{MAC: net.HardwareAddr{2, 0, 1}, Underlay: u2}}}, "6-byte unicast"},
		{"multicast MAC", Entries{Peers: []Peer{{MAC: net.HardwareAddr{1, 0, 0, 0, 0, 1}, Underlay: u2}}}, "6-byte unicast"},
		{"peer twice", Entries{Peers: []Peer{peer, peer}}, "listed twice"},
	} {
		err := checkEntries(c.e, 1)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// The loopback driver runs one node: its overlay refuses to start.
func TestLoopbackHasNoOverlay(t *testing.T) {
	d, err := New(Loopback, "", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Overlay.SetNode(Node{UnderlayAddr: netip.MustParseAddr("10.0.0.1"), Index: 1}); !errors.Is(err, ErrNoOverlay) {
		t.Errorf("SetNode: %v, want ErrNoOverlay", err)
	}
	if err := d.Overlay.EnsureOverlay("vpc-a", 4096); !errors.Is(err, ErrNoOverlay) {
		t.Errorf("EnsureOverlay: %v, want ErrNoOverlay", err)
	}
	if _, ok := d.Overlay.NodeConfig(); ok {
		t.Errorf("NodeConfig reports a node")
	}
}
