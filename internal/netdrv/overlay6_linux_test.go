//go:build linux

package netdrv

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestOverlayIPv6Toggle: dual-stack hosts plugged before their VPC copies
// join the overlay (as the node agent does it) talk IPv6 across nodes
// once the entries carry IPv6 (a full-size 1452-byte echo with DF);
// entries without IPv6 remove every IPv6 object from the copy (overlay
// address, NDP entries, /128 routes, proxy NDP) and IPv6 stops while IPv4
// goes on; IPv6 entries again bring it back.
func TestOverlayIPv6Toggle(t *testing.T) {
	needRoot(t)
	l := newOvLab(t, 2, 1550)
	n1, n2 := l.nodes[0], l.nodes[1]
	v := &ovVPC{id: newID("vpc"), vni: 4300, holders: l.nodes, placed: map[netip.Addr]*ovNode{}}
	vsw := newID("vsw")
	sub := netip.MustParsePrefix("fd00:aaaa:bbbb::/64")
	h1, h2 := newID("i"), newID("i")
	a1, a2 := netip.MustParseAddr("fd00:aaaa:bbbb::11"), netip.MustParseAddr("fd00:aaaa:bbbb::12")
	for i, nd := range l.nodes {
		id, ip4, ip6 := []string{h1, h2}[i], ip(fmt.Sprintf("192.168.0.%d", 11+i)), []netip.Addr{a1, a2}[i]
		ok(t, nd.d.EnsureVPC(v.id))
		ok(t, nd.d.EnsureVSwitch(v.id, vsw, ovCIDR, ovGW))
		ok(t, nd.d.EnsureHost(Host{ID: id, VpcID: v.id, VSwitchID: vsw, IP: ip4, Prefix: ovCIDR, Gateway: ovGW, IP6: ip6, Prefix6: sub}))
		ok(t, nd.d.EnsureOverlay(v.id, v.vni))
		v.placed[ip4] = nd
	}
	six := map[netip.Addr]*ovNode{a1: n1, a2: n2}
	entries := func(self *ovNode, ipv6 bool) Entries {
		e := v.entries(self)
		if !ipv6 {
			return e
		}
		e.IPv6 = true
		for a, n := range six {
			if n != self {
				e.Remote[a] = VTEPMAC(n.underlay)
			}
		}
		for _, n := range l.nodes {
			if n != self {
				e.Remote[OverlayAddr6(n.index)] = VTEPMAC(n.underlay)
			}
		}
		return e
	}
	set := func(ipv6 bool) {
		t.Helper()
		for _, n := range l.nodes {
			ok(t, n.d.SetOverlayEntries(v.id, entries(n, ipv6)))
		}
	}
	state := func(n *ovNode) []string {
		t.Helper()
		n.d.opMu.Lock()
		defer n.d.opMu.Unlock()
		cp, err := n.d.loadVPC(v.id)
		ok(t, err)
		vx, err := cp.nl.LinkByName(VXLANName(v.id))
		ok(t, err)
		var out []string
		addrs, err := cp.nl.AddrList(vx, netlink.FAMILY_V6)
		ok(t, err)
		for _, a := range addrs {
			if !a.IP.IsLinkLocalUnicast() {
				out = append(out, "address "+a.IPNet.String())
			}
		}
		neighs, err := cp.nl.NeighList(vx.Attrs().Index, netlink.FAMILY_V6)
		ok(t, err)
		for _, ne := range neighs {
			if ne.State&netlink.NUD_PERMANENT != 0 {
				out = append(out, "neighbour "+ne.IP.String()+" "+ne.HardwareAddr.String())
			}
		}
		routes, err := cp.nl.RouteList(vx, netlink.FAMILY_V6)
		ok(t, err)
		for _, r := range routes {
			if r.Dst != nil && r.Protocol != unix.RTPROT_KERNEL {
				out = append(out, "route "+r.Dst.String())
			}
		}
		proxies, err := cp.nl.NeighProxyList(0, netlink.FAMILY_V6)
		ok(t, err)
		for _, p := range proxies {
			link, _ := cp.nl.LinkByIndex(p.LinkIndex)
			out = append(out, fmt.Sprintf("proxy %s on %s", p.IP, link.Attrs().Name))
		}
		return out
	}

	set(true)
	if err := ping6(n1.d, h1, a2, 1452); err != nil {
		t.Fatalf("IPv6 n1 -> n2, 1452 bytes with DF: %v", err)
	}
	if err := ping6(n2.d, h2, a1, 1452); err != nil {
		t.Fatalf("IPv6 n2 -> n1, 1452 bytes with DF: %v", err)
	}
	// Applying the same entries again touches no route (a route deleted
	// and re-added would drop packets meanwhile).
	if got := routeChanges(t, n1, v.id, func() { ok(t, n1.d.SetOverlayEntries(v.id, entries(n1, true))) }); len(got) != 0 {
		t.Errorf("re-applying the same entries changed routes: %v", got)
	}
	br := BridgeName(vsw)
	want := []string{"address 100::1/128", "neighbour fd00:aaaa:bbbb::12 " + VTEPMAC(n2.underlay).String(),
		"neighbour 100::2 " + VTEPMAC(n2.underlay).String(), "route fd00:aaaa:bbbb::12/128", "route 100::2/128",
		"proxy fd00:aaaa:bbbb::12 on " + br}
	if got := state(n1); !sameSet(got, want) {
		t.Errorf("n1's IPv6 overlay state\n got %v\nwant %v", got, want)
	}

	set(false)
	for _, n := range l.nodes {
		if got := state(n); len(got) != 0 {
			t.Errorf("%s: IPv6 state left after IPv4-only entries: %v", n.name, got)
		}
	}
	if err := ping6(n1.d, h1, a2, 56); err == nil {
		t.Error("IPv6 crosses nodes with IPv4-only entries")
	}
	if err := ping(l.origin, hostNS(t, n1.d, h1), ip("192.168.0.12"), 84); err != nil {
		t.Errorf("IPv4 n1 -> n2 with IPv4-only entries: %v", err)
	}

	set(true)
	if err := ping6(n1.d, h1, a2, 56); err != nil {
		t.Errorf("IPv6 n1 -> n2 after IPv6 entries again: %v", err)
	}
	// A vSwitch whose /64 gets its gateway on n1 only after the entries
	// were set (its first dual-stack host there comes later) answers for
	// its remote addresses from then on.
	vsw2, h3 := newID("vsw"), newID("i")
	sub2, a3 := netip.MustParsePrefix("fd00:aaaa:bbbb:1::/64"), netip.MustParseAddr("fd00:aaaa:bbbb:1::13")
	cidr2, gw2 := netip.MustParsePrefix("192.168.1.0/24"), ip("192.168.1.1")
	for _, nd := range l.nodes {
		ok(t, nd.d.EnsureVSwitch(v.id, vsw2, cidr2, gw2))
	}
	ok(t, n2.d.EnsureHost(Host{ID: h3, VpcID: v.id, VSwitchID: vsw2, IP: ip("192.168.1.13"), Prefix: cidr2, Gateway: gw2, IP6: a3, Prefix6: sub2}))
	v.placed[ip("192.168.1.13")] = n2
	six[a3] = n2
	set(true)
	proxy3 := "proxy " + a3.String() + " on " + BridgeName(vsw2)
	if got := state(n1); slices.Contains(got, proxy3) {
		t.Fatalf("n1 proxies %s on a bridge without its /64: %v", a3, got)
	}
	ok(t, n1.d.EnsureVSwitchIPv6(v.id, vsw2, sub2))
	if got := state(n1); !slices.Contains(got, proxy3) {
		t.Errorf("n1 does not proxy %s after its vSwitch got the /64: %v", a3, got)
	}
	want = append(want, "neighbour "+a3.String()+" "+VTEPMAC(n2.underlay).String(), "route "+a3.String()+"/128", proxy3)

	// A rejected set (IPv6 in an IPv4-only copy's entries) changes nothing.
	bad := entries(n1, true)
	bad.IPv6 = false
	if err := n1.d.SetOverlayEntries(v.id, bad); err == nil {
		t.Error("IPv6 remote addresses accepted for an IPv4-only copy")
	}
	if got := state(n1); !sameSet(got, want) {
		t.Errorf("n1's IPv6 state after a rejected set: %v", got)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, c := range m {
		if c != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

// routeChanges runs f and returns the route changes (RTM_NEWROUTE and
// RTM_DELROUTE) seen meanwhile in n's copy of vpcID.
func routeChanges(t *testing.T, n *ovNode, vpcID string, f func()) []string {
	t.Helper()
	h, err := nsfs.Open(nsfs.Path(n.d.nsName(vpcID)))
	ok(t, err)
	defer h.Close()
	ch := make(chan netlink.RouteUpdate, 256)
	done := make(chan struct{})
	ok(t, netlink.RouteSubscribeWithOptions(ch, done, netlink.RouteSubscribeOptions{Namespace: &h}))
	f()
	// A marker route after f: once its update arrives, every earlier one has.
	cp, err := netlink.NewHandleAt(h)
	ok(t, err)
	defer cp.Close()
	lo, err := cp.LinkByName("lo")
	ok(t, err)
	marker := &netlink.Route{LinkIndex: lo.Attrs().Index, Dst: ipNet(netip.MustParseAddr("192.0.2.99"), 32), Scope: netlink.SCOPE_LINK}
	ok(t, cp.RouteAdd(marker))
	defer cp.RouteDel(marker) //nolint:errcheck
	var out []string
	timeout := time.After(3 * time.Second)
	for {
		select {
		case u := <-ch:
			if u.Dst != nil && u.Dst.IP.Equal(marker.Dst.IP) {
				close(done)
				return out
			}
			if u.Table == unix.RT_TABLE_MAIN {
				out = append(out, fmt.Sprintf("%d %v", u.Type, u.Dst))
			}
		case <-timeout:
			close(done)
			t.Fatal("no route update for the marker route")
			return nil
		}
	}
}
