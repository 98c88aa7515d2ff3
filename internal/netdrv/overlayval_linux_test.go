package netdrv

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOverlayValidation: bad node configurations and arguments get a clear
// error and change nothing.
func TestOverlayValidation(t *testing.T) {
	needRoot(t)
	l := newOvLab(t, 1, 1550)
	nd := l.nodes[0]
	fresh, err := newNetns(l.prefix+"-fresh", testLogger(t))
	ok(t, err)
	t.Cleanup(func() { fresh.Cleanup(); fresh.Close() })
	vpc := newID("vpc")
	ok(t, fresh.EnsureVPC(vpc))
	if err := fresh.EnsureOverlay(vpc, 4096); !errors.Is(err, ErrNoOverlay) {
		t.Errorf("EnsureOverlay before SetNode: %v, want ErrNoOverlay", err)
	}
	if err := fresh.SetOverlayEntries(vpc, Entries{}); !errors.Is(err, ErrNoOverlay) {
		t.Errorf("SetOverlayEntries before SetNode: %v, want ErrNoOverlay", err)
	}
	if err := fresh.SetUnderlayPeers(nil); !errors.Is(err, ErrNoOverlay) {
		t.Errorf("SetUnderlayPeers before SetNode: %v, want ErrNoOverlay", err)
	}
	good := Node{Namespace: nd.nsPath, UnderlayAddr: nd.underlay, Index: 7}
	for _, c := range []struct {
		name string
		mod  func(n *Node)
		want string
	}{
		{"address on no link", func(n *Node) { n.UnderlayAddr = netip.MustParseAddr("10.255.0.200") }, "on no link"},
		{"IPv6 underlay", func(n *Node) { n.UnderlayAddr = netip.MustParseAddr("fd00::1") }, "want an IPv4"},
		{"index 0", func(n *Node) { n.Index = 0 }, "out of range"},
		{"index too large", func(n *Node) { n.Index = MaxNodeIndex + 1 }, "out of range"},
		{"VPC MTU above underlay - 50", func(n *Node) { n.VPCMTU = 1501 }, "exceeds the underlay"},
		{"VPC MTU too small", func(n *Node) { n.VPCMTU = 1000 }, "out of range"},
		{"wrong underlay index", func(n *Node) { n.UnderlayIndex = 999 }, "not on link 999"},
		{"no such namespace", func(n *Node) { n.Namespace = "/run/netns/" + l.prefix + "-nosuch" }, "no such file"},
	} {
		n := good
		c.mod(&n)
		err := fresh.SetNode(n)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetNode %s: %v, want %q", c.name, err, c.want)
		}
		if _, set := fresh.NodeConfig(); set {
			t.Fatalf("SetNode %s: node configured after an error", c.name)
		}
	}

	d := nd.d
	ok(t, d.EnsureVPC(vpc))
	ok(t, d.EnsureOverlay(vpc, 4096))
	for _, vni := range []int{0, -1, MaxVNI + 1} {
		if err := d.EnsureOverlay(vpc, vni); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("EnsureOverlay VNI %d: %v", vni, err)
		}
	}
	if err := d.EnsureOverlay("vpc-nosuchvpc", 4097); !errors.Is(err, ErrNotFound) {
		t.Errorf("EnsureOverlay of an unknown VPC: %v, want ErrNotFound", err)
	}
	other := newID("vpc")
	ok(t, d.EnsureVPC(other))
	if err := d.SetOverlayEntries(other, Entries{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetOverlayEntries without a device: %v, want ErrNotFound", err)
	}
	// A rejected entry set changes nothing.
	u2 := netip.MustParseAddr("10.255.0.2")
	peer := Peer{MAC: VTEPMAC(u2), Underlay: u2}
	good2 := Entries{Peers: []Peer{peer}, Remote: map[netip.Addr]net.HardwareAddr{netip.MustParseAddr("192.168.0.12"): peer.MAC}}
	ok(t, d.SetOverlayEntries(vpc, good2))
	before := dumpEntries(t, d, vpc)
	bad := Entries{Peers: []Peer{peer}, Remote: map[netip.Addr]net.HardwareAddr{netip.MustParseAddr("192.168.0.13"): VTEPMAC(netip.MustParseAddr("10.255.0.3"))}}
	if err := d.SetOverlayEntries(vpc, bad); err == nil {
		t.Errorf("entries pointing at an unknown node accepted")
	}
	if after := dumpEntries(t, d, vpc); strings.Join(after, ",") != strings.Join(before, ",") || len(before) != 3 {
		t.Errorf("entries after a rejected set: %v, before %v", after, before)
	}
	// A VNI held by another driver's device on this node (another
	// prefix): refused by the kernel, and the VPC keeps its device and
	// entries.
	foreign := l.driverAs(nd, "foreign")
	fvpc := newID("vpc")
	ok(t, foreign.EnsureVPC(fvpc))
	ok(t, foreign.EnsureOverlay(fvpc, 6000))
	if err := d.EnsureOverlay(vpc, 6000); err == nil || !errors.Is(err, unix.EEXIST) {
		t.Errorf("EnsureOverlay with a VNI another device of the node has: %v, want EEXIST", err)
	}
	if vx := vxlanDevices(t, d, vpc); len(vx) != 1 || vx[0].VxlanId != 4096 || vx[0].Name != VXLANName(vpc) {
		t.Errorf("after a refused VNI change the VPC has devices %v, want its VNI 4096 device", vx)
	}
	if after := dumpEntries(t, d, vpc); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("entries after a refused VNI change: %v, before %v", after, before)
	}
	ok(t, foreign.DeleteVPC(fvpc))
	// Reconfiguring the node while overlays exist is refused; the same
	// configuration again is fine.
	ok(t, d.SetNode(Node{Namespace: nd.nsPath, UnderlayAddr: nd.underlay, Index: nd.index}))
	if err := d.SetNode(Node{Namespace: nd.nsPath, UnderlayAddr: nd.underlay, Index: 9}); err == nil || !strings.Contains(err.Error(), "overlays exist") {
		t.Errorf("SetNode with another index while overlays exist: %v", err)
	}
	if cfg, _ := d.NodeConfig(); cfg.Index != nd.index {
		t.Errorf("node index %d after a refused SetNode, want %d", cfg.Index, nd.index)
	}
	// The VPC MTU may change at any time (the region's minimum moved);
	// EnsureOverlay applies it to every VPC link.
	vsw := newID("vsw")
	ok(t, d.EnsureVSwitch(vpc, vsw, ovCIDR, ovGW))
	host := newID("i")
	ok(t, d.EnsureHost(Host{ID: host, VpcID: vpc, VSwitchID: vsw, IP: ip("192.168.0.11"), Prefix: ovCIDR, Gateway: ovGW}))
	ok(t, d.SetNode(Node{Namespace: nd.nsPath, UnderlayAddr: nd.underlay, Index: nd.index, VPCMTU: 1400}))
	ok(t, d.EnsureOverlay(vpc, 4096))
	for _, c := range linkMTUs(t, d, vpc, host) {
		if c.mtu != 1400 {
			t.Errorf("after the VPC MTU changed to 1400: %s has MTU %d", c.name, c.mtu)
		}
	}
	if err := d.SetUnderlayPeers([]netip.Addr{netip.MustParseAddr("fd00::1")}); err == nil {
		t.Errorf("SetUnderlayPeers(fd00::1) accepted")
	}
	// Cleanup (server --cleanup) removes the underlay filter too.
	ok(t, d.SetUnderlayPeers([]netip.Addr{u2}))
	if n := countUnderlayTables(t, nd); n != 1 {
		t.Fatalf("%d underlay tables, want 1", n)
	}
	ok(t, d.Cleanup())
	if n := countUnderlayTables(t, nd); n != 0 {
		t.Errorf("table %s left after Cleanup", UnderlayTable)
	}
}
