//go:build linux

package netdrv

// NETWORK SAFETY: as netns_linux_test.go: packets go only to addresses
// inside namespaces the test created.

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestNetnsAnnounceENI6: AnnounceENI of an IPv6 ENI sends an unsolicited
// neighbour advertisement that replaces a host's stale entry for the ENI
// (a wrong MAC, no traffic) with the bridge's MAC, and is refused for an
// IPv6 address the bridge does not hold; an IPv4 ENI is still announced.
func TestNetnsAnnounceENI6(t *testing.T) {
	d := newTestNetns(t)
	vpc, vsw := newID("vpc"), newID("vsw")
	host := Host{ID: newID("i"), VpcID: vpc, VSwitchID: vsw, IP: ip10, Prefix: cidr0, Gateway: gw0, IP6: v6ip10, Prefix6: v6sub0}
	ok(t, d.EnsureVPC(vpc))
	ok(t, d.EnsureVSwitch(vpc, vsw, cidr0, gw0))
	ok(t, d.EnsureHost(host))
	eni6 := netip.MustParseAddr("fd00:aaaa:bbbb::50")
	if err := d.AnnounceENI(vpc, vsw, eni6); err == nil {
		t.Fatal("announced an IPv6 ENI the bridge does not hold")
	}
	ok(t, d.AddENI(vpc, vsw, eni6))
	ok(t, d.AddENI(vpc, vsw, netip.MustParseAddr("192.168.0.50")))
	ok(t, d.AnnounceENI(vpc, vsw, netip.MustParseAddr("192.168.0.50")))

	_, br, _, err := d.eniTarget(vpc, vsw)
	ok(t, err)
	want := br.Attrs().HardwareAddr.String()
	nl := hostHandle(t, d, host.ID)
	eth, err := nl.LinkByName("eth0")
	ok(t, err)
	bogus := net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x06}
	ok(t, nl.NeighSet(&netlink.Neigh{LinkIndex: eth.Attrs().Index, Family: netlink.FAMILY_V6, State: netlink.NUD_STALE,
		IP: net.IP(eni6.AsSlice()), HardwareAddr: bogus}))
	entry := func() string {
		list, err := nl.NeighList(eth.Attrs().Index, unix.AF_INET6)
		ok(t, err)
		for _, n := range list {
			if a, _ := netip.AddrFromSlice(n.IP); a == eni6 {
				return n.HardwareAddr.String()
			}
		}
		return ""
	}
	if got := entry(); got != bogus.String() {
		t.Fatalf("planted %s, the host's table has %q", bogus, got)
	}
	ok(t, d.AnnounceENI(vpc, vsw, eni6))
	got := entry()
	for end := time.Now().Add(2 * time.Second); got != want && time.Now().Before(end); got = entry() {
		time.Sleep(20 * time.Millisecond)
	}
	if got != want {
		t.Errorf("after the announcement the host resolves %s to %q, want the bridge's MAC %s", eni6, got, want)
	}
}
