package netdrv

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var (
	ovCIDR = netip.MustParsePrefix("192.168.0.0/24")
	ovGW   = netip.MustParseAddr("192.168.0.1")
	ip     = netip.MustParseAddr
)

// ovHost plugs host id (ip in ovCIDR) into vSwitch vsw of vpc on node nd
// and records where it is.
func ovHost(t *testing.T, v *ovVPC, nd *ovNode, vsw, id string, a netip.Addr) {
	t.Helper()
	ok(t, nd.d.EnsureHost(Host{ID: id, VpcID: v.id, VSwitchID: vsw, IP: a, Prefix: ovCIDR, Gateway: ovGW}))
	v.placed[a] = nd
}

// TestOverlayTwoNodes turns the prototype's checks into driver tests: two
// nodes, two VPCs with the same CIDR spanning both, hosts on each node,
// forwarding entries as the agent would program them.
func TestOverlayTwoNodes(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name        string
		underlayMTU int
		dfOK        bool // does a 1500-byte DF ping cross nodes?
	}{
		{"underlay1550", 1550, true},
		{"underlay1500", 1500, false},
	} {
		t.Run(tc.name, func(t *testing.T) { overlayTwoNodes(t, tc.underlayMTU, tc.dfOK) })
	}
}

func overlayTwoNodes(t *testing.T, underlayMTU int, dfOK bool) {
	l := newOvLab(t, 2, underlayMTU)
	n1, n2 := l.nodes[0], l.nodes[1]
	vpcMTU := underlayMTU - VXLANOverhead
	if cfg, _ := n1.d.NodeConfig(); cfg.VPCMTU != vpcMTU || cfg.UnderlayIndex == 0 {
		t.Fatalf("node config %+v: want VPC MTU %d and the underlay index filled in", cfg, vpcMTU)
	}
	a := &ovVPC{id: newID("vpc"), vni: 4096, holders: l.nodes, placed: map[netip.Addr]*ovNode{}}
	b := &ovVPC{id: newID("vpc"), vni: 4097, holders: l.nodes, placed: map[netip.Addr]*ovNode{}}
	vswA, vswB := newID("vsw"), newID("vsw")
	for _, nd := range l.nodes {
		// VPC A: vSwitch first, then the overlay; VPC B the other way round.
		ok(t, nd.d.EnsureVPC(a.id))
		ok(t, nd.d.EnsureVSwitch(a.id, vswA, ovCIDR, ovGW))
		ok(t, nd.d.EnsureOverlay(a.id, a.vni))
		ok(t, nd.d.EnsureVPC(b.id))
		ok(t, nd.d.EnsureOverlay(b.id, b.vni))
		ok(t, nd.d.EnsureVSwitch(b.id, vswB, ovCIDR, ovGW))
	}
	h11, h12, h22 := ip("192.168.0.11"), ip("192.168.0.12"), ip("192.168.0.22")
	a11, a12 := newID("i"), newID("i")
	b11, b12, b22 := newID("i"), newID("i"), newID("i")
	start := time.Now()
	ovHost(t, a, n1, vswA, a11, h11)
	ovHost(t, a, n2, vswA, a12, h12)
	ovHost(t, b, n1, vswB, b11, h11)
	ovHost(t, b, n2, vswB, b12, h12)
	ovHost(t, b, n2, vswB, b22, h22)
	t.Logf("5 hosts plumbed (links operationally up) in %v", time.Since(start).Round(time.Millisecond))
	a.program(t)
	b.program(t)

	for id, tg := range map[string]string{a11: "A .11 on n1", a12: "A .12 on n2", b12: "B .12 on n2", b22: "B .22 on n2"} {
		h := map[string]netip.Addr{a11: h11, a12: h12, b12: h12, b22: h22}[id]
		d := map[string]*NetnsDriver{a11: n1.d, a12: n2.d, b12: n2.d, b22: n2.d}[id]
		ln, err := d.ListenHost(id, ap(h, 7000))
		ok(t, err)
		serve(t, ln, tg)
	}
	ln, err := n2.d.ListenHost(a12, ap(h12, 9000))
	ok(t, err)
	serve(t, ln, "")

	t.Run("same VPC across nodes", func(t *testing.T) {
		wantTag(t, "A .11 (n1)", fromHost(n1.d, a11), ap(h12, 7000), "A .12 on n2")
		wantTag(t, "A .12 (n2)", fromHost(n2.d, a12), ap(h11, 7000), "A .11 on n1")
		wantTag(t, "B .11 (n1)", fromHost(n1.d, b11), ap(h12, 7000), "B .12 on n2")
		wantTag(t, "B .11 (n1)", fromHost(n1.d, b11), ap(h22, 7000), "B .22 on n2")
	})
	t.Run("isolation", func(t *testing.T) {
		// .22 exists only in VPC B: from VPC A it does not answer at all.
		wantNoConn(t, "A .11 (n1)", fromHost(n1.d, a11), ap(h22, 7000))
		if err := ping(l.origin, hostNS(t, n1.d, a11), h22, 84); err == nil {
			t.Errorf("VPC A pinged VPC B's .22")
		}
		// Structure: one VXLAN device per VPC copy with its own VNI,
		// nothing of ours in the node namespaces but the kernel's socket.
		for _, nd := range l.nodes {
			for _, v := range []*ovVPC{a, b} {
				vx := vxlanDevices(t, nd.d, v.id)
				if len(vx) != 1 || vx[0].VxlanId != v.vni || vx[0].Learning {
					t.Errorf("%s's copy of VPC VNI %d has VXLAN devices %v, want one with that VNI, no learning", nd.name, v.vni, vx)
				}
			}
			links, err := nd.nl.LinkList()
			ok(t, err)
			for _, lk := range links {
				if n := lk.Attrs().Name; n != "lo" && n != "ul" {
					t.Errorf("node %s namespace holds link %s (%s)", nd.name, n, lk.Type())
				}
			}
		}
	})
	t.Run("distributed gateway", func(t *testing.T) {
		for _, nd := range l.nodes {
			ln, err := nd.d.Listen(a.id, ap(ovGW, 7001))
			ok(t, err)
			serve(t, ln, "gateway on "+nd.name)
		}
		wantTag(t, "A .11 (n1)", fromHost(n1.d, a11), ap(ovGW, 7001), "gateway on n1")
		wantTag(t, "A .12 (n2)", fromHost(n2.d, a12), ap(ovGW, 7001), "gateway on n2")
		// Every host resolves the gateway and remote peers to its own
		// node's anycast gateway MAC.
		for _, h := range []struct {
			d      *NetnsDriver
			id     string
			remote netip.Addr
		}{{n1.d, a11, h12}, {n2.d, a12, h11}} {
			ns := hostNS(t, h.d, h.id)
			for _, x := range []netip.Addr{ovGW, h.remote} {
				if got := neighOf(t, ns, x); got != GatewayMAC(a.vni).String() {
					t.Errorf("host %s resolves %s to %q, want the anycast gateway MAC %s", h.id, x, got, GatewayMAC(a.vni))
				}
			}
		}
	})
	t.Run("router-originated dial uses the node's overlay address", func(t *testing.T) {
		ln, err := n2.d.ListenHost(b22, ap(h22, 7002))
		ok(t, err)
		serve(t, ln, "@peer")
		wantTag(t, "VPC B router on n1", fromVPC(n1.d, b.id), ap(h22, 7002), n1.overlayAddr().String())
		ln, err = n1.d.ListenHost(b11, ap(h11, 7002))
		ok(t, err)
		serve(t, ln, "@peer")
		wantTag(t, "VPC B router on n1 (local host)", fromVPC(n1.d, b.id), ap(h11, 7002), ovGW.String())
	})
	t.Run("MTU", func(t *testing.T) {
		ns := hostNS(t, n1.d, a11)
		for _, c := range linkMTUs(t, n1.d, a.id, a11) {
			if c.mtu != vpcMTU {
				t.Errorf("%s has MTU %d, want %d", c.name, c.mtu, vpcMTU)
			}
		}
		err := ping(l.origin, ns, h12, 1500)
		switch {
		case dfOK && err != nil:
			t.Errorf("1500-byte DF ping across nodes (VPC MTU %d): %v", vpcMTU, err)
		case !dfOK && !errors.Is(err, unix.EMSGSIZE):
			t.Errorf("1500-byte DF ping with VPC MTU %d: %v; want EMSGSIZE at the sender", vpcMTU, err)
		}
		if err := ping(l.origin, ns, h12, vpcMTU); err != nil {
			t.Errorf("%d-byte DF ping (= VPC MTU): %v", vpcMTU, err)
		}
		if err := echo(fromHost(n1.d, a11), ap(h12, 9000), 64<<10); err != nil {
			t.Errorf("64 KiB echo across nodes: %v", err)
		}
	})
	t.Run("entries are exactly what was set", func(t *testing.T) {
		before := dumpEntries(t, n1.d, a.id)
		want := entryStrings(a.entries(n1))
		if strings.Join(before, "\n") != strings.Join(want, "\n") {
			t.Errorf("n1's entries for VPC A:\n%s\nwant:\n%s", strings.Join(before, "\n"), strings.Join(want, "\n"))
		}
		a.program(t) // idempotent
		if after := dumpEntries(t, n1.d, a.id); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Errorf("re-applying changed the entries:\n%v\n%v", before, after)
		}
		// Without the FDB entry nothing crosses (no default destination).
		e := a.entries(n1)
		e.Peers, e.Remote = nil, nil
		ok(t, n1.d.SetOverlayEntries(a.id, e))
		if got := dumpEntries(t, n1.d, a.id); len(got) != 0 {
			t.Errorf("entries left after clearing: %v", got)
		}
		wantNoConn(t, "A .11 (n1), no entries", fromHost(n1.d, a11), ap(h12, 7000))
		// Only the route for .12 gone: .12 unreachable.
		e = a.entries(n1)
		delete(e.Remote, h12)
		ok(t, n1.d.SetOverlayEntries(a.id, e))
		wantNoConn(t, "A .11 (n1), no entry for .12", fromHost(n1.d, a11), ap(h12, 7000))
		a.program(t)
		wantTag(t, "A .11 (n1), entries back", fromHost(n1.d, a11), ap(h12, 7000), "A .12 on n2")
	})
	t.Run("ENI moves with gratuitous ARP", func(t *testing.T) {
		eni := ip("192.168.0.50")
		ok(t, n2.d.AddENI(a.id, vswA, eni))
		a.placed[eni] = n2
		a.program(t)
		ln2, err := n2.d.Listen(a.id, ap(eni, 8080))
		ok(t, err)
		serve(t, ln2, "ENI on n2")
		wantTag(t, "A .11 (n1)", fromHost(n1.d, a11), ap(eni, 8080), "ENI on n2")

		// Move to n1: the old owner steps down, the new one takes the
		// address and announces it, the others' entries follow.
		ln2.Close()
		ok(t, n2.d.RemoveENI(a.id, vswA, eni))
		hns := hostNS(t, n1.d, a11)
		plantNeigh(t, hns, eni, net.HardwareAddr{0x02, 0xde, 0xad, 0xbe, 0xef, 0x01})
		ok(t, n1.d.AddENI(a.id, vswA, eni))
		a.placed[eni] = n1
		a.program(t)
		ln1, err := n1.d.Listen(a.id, ap(eni, 8080))
		ok(t, err)
		serve(t, ln1, "ENI on n1")
		ok(t, n1.d.AnnounceENI(a.id, vswA, eni))
		time.Sleep(50 * time.Millisecond)
		if got := neighOf(t, hns, eni); got != GatewayMAC(a.vni).String() {
			t.Errorf("after the GARP, host a11 has the ENI at %s, want the gateway MAC %s", got, GatewayMAC(a.vni))
		}
		wantTag(t, "A .11 (n1)", fromHost(n1.d, a11), ap(eni, 8080), "ENI on n1")
		wantTag(t, "A .12 (n2)", fromHost(n2.d, a12), ap(eni, 8080), "ENI on n1")
		// ARP tables: one bridge holds the ENI; n2's copy resolves it to
		// n1's VTEP; n2's host to n2's gateway MAC.
		holders := 0
		for _, nd := range l.nodes {
			inv, err := nd.d.Inventory()
			ok(t, err)
			for _, e := range inv.ENIs {
				if e.IP == eni {
					holders++
				}
			}
		}
		if holders != 1 {
			t.Errorf("%d nodes hold the ENI, want 1", holders)
		}
		if got := neighOf(t, vpcNS(t, n2.d, a.id), eni); got != VTEPMAC(n1.underlay).String() {
			t.Errorf("n2's copy resolves the ENI to %q, want n1's VTEP %s", got, VTEPMAC(n1.underlay))
		}
		if got := neighOf(t, hostNS(t, n2.d, a12), eni); got != GatewayMAC(a.vni).String() {
			t.Errorf("host a12 resolves the ENI to %q, want the gateway MAC", got)
		}
		// Announcing an address the node does not hold is refused.
		if err := n2.d.AnnounceENI(a.id, vswA, eni); err == nil {
			t.Errorf("n2 announced an ENI it does not hold")
		}
	})
	t.Run("underlay filter", func(t *testing.T) {
		ok(t, n2.d.SetUnderlayPeers([]netip.Addr{n1.underlay}))
		wantTag(t, "A .11 (n1), n1 allowed on n2", fromHost(n1.d, a11), ap(h12, 7000), "A .12 on n2")
		ok(t, n2.d.SetUnderlayPeers([]netip.Addr{ip("10.255.0.99")}))
		wantNoConn(t, "A .11 (n1), n1 not allowed on n2", fromHost(n1.d, a11), ap(h12, 7000))
		if n := countUnderlayTables(t, n2); n != 1 {
			t.Errorf("node n2 has %d tables %s, want 1", n, UnderlayTable)
		}
		ok(t, n2.d.SetUnderlayPeers([]netip.Addr{n1.underlay, ip("10.255.0.99")}))
		wantTag(t, "A .11 (n1), n1 allowed again", fromHost(n1.d, a11), ap(h12, 7000), "A .12 on n2")
	})
	t.Run("another VNI replaces the device", func(t *testing.T) {
		ok(t, n1.d.EnsureOverlay(a.id, 5000))
		vx := vxlanDevices(t, n1.d, a.id)
		if len(vx) != 1 || vx[0].VxlanId != 5000 {
			t.Fatalf("after EnsureOverlay(5000): devices %v", vx)
		}
		if got := dumpEntries(t, n1.d, a.id); len(got) != 0 {
			t.Errorf("new device carries entries %v", got)
		}
		inv, err := n1.d.Inventory()
		ok(t, err)
		found := false
		for _, o := range inv.Overlays {
			found = found || (o.VpcID == a.id && o.VNI == 5000)
		}
		if !found {
			t.Errorf("Inventory().Overlays = %v, want VPC A with VNI 5000", inv.Overlays)
		}
		a.program(t)
		wantNoConn(t, "A .11 (n1) on VNI 5000 to n2 on 4096", fromHost(n1.d, a11), ap(h12, 7000))
		// A VNI another VPC of this node uses is refused before anything
		// is touched.
		if err := n1.d.EnsureOverlay(a.id, b.vni); err == nil {
			t.Errorf("VPC A got VPC B's VNI on n1")
		} else if vx := vxlanDevices(t, n1.d, a.id); len(vx) != 1 || vx[0].VxlanId != 5000 {
			t.Errorf("a refused VNI change left devices %v", vx)
		}
		ok(t, n1.d.EnsureOverlay(a.id, a.vni))
		a.program(t)
		wantTag(t, "A .11 (n1), VNI back", fromHost(n1.d, a11), ap(h12, 7000), "A .12 on n2")
	})
	t.Run("a restarted driver keeps the device", func(t *testing.T) {
		before := vxlanDevices(t, n1.d, a.id)[0].Index
		d := l.driver(n1) // same prefix as n1.d: a restarted agent
		if d.prefix != n1.d.prefix {
			t.Fatalf("prefix %s != %s", d.prefix, n1.d.prefix)
		}
		ok(t, d.EnsureVSwitch(a.id, vswA, ovCIDR, ovGW)) // must not flip the gateway MAC
		ok(t, d.EnsureOverlay(a.id, a.vni))
		if after := vxlanDevices(t, d, a.id)[0].Index; after != before {
			t.Errorf("VXLAN device replaced on restart (index %d -> %d)", before, after)
		}
		br, err := vpcLink(t, d, a.id, BridgeName(vswA))
		ok(t, err)
		if !bytesEq(br.Attrs().HardwareAddr, GatewayMAC(a.vni)) {
			t.Errorf("bridge MAC %s after restart, want %s", br.Attrs().HardwareAddr, GatewayMAC(a.vni))
		}
		wantTag(t, "A .11 (n1) after restart", fromHost(n1.d, a11), ap(h12, 7000), "A .12 on n2")
	})
}

// ------------------------------------------------------------- helpers

func bytesEq(a, b net.HardwareAddr) bool { return a.String() == b.String() }

func vpcNS(t *testing.T, d *NetnsDriver, vpcID string) netns.NsHandle {
	t.Helper()
	h, err := nsfs.Open(nsfs.Path(d.nsName(vpcID)))
	ok(t, err)
	t.Cleanup(func() { h.Close() })
	return h
}

func vpcNL(t *testing.T, d *NetnsDriver, vpcID string) *netlink.Handle {
	t.Helper()
	nl, err := netlink.NewHandleAt(vpcNS(t, d, vpcID), unix.NETLINK_ROUTE)
	ok(t, err)
	t.Cleanup(nl.Close)
	return nl
}

func vpcLink(t *testing.T, d *NetnsDriver, vpcID, name string) (netlink.Link, error) {
	return vpcNL(t, d, vpcID).LinkByName(name)
}

func vxlanDevices(t *testing.T, d *NetnsDriver, vpcID string) []*netlink.Vxlan {
	t.Helper()
	links, err := vpcNL(t, d, vpcID).LinkList()
	ok(t, err)
	var out []*netlink.Vxlan
	for _, l := range links {
		if vx, ok := l.(*netlink.Vxlan); ok {
			out = append(out, vx)
		}
	}
	return out
}

type linkMTU struct {
	name string
	mtu  int
}

// linkMTUs lists the MTU of every link of a VPC copy (but lo) and of a
// host's eth0.
func linkMTUs(t *testing.T, d *NetnsDriver, vpcID, hostID string) []linkMTU {
	t.Helper()
	var out []linkMTU
	links, err := vpcNL(t, d, vpcID).LinkList()
	ok(t, err)
	for _, l := range links {
		if l.Attrs().Name != "lo" {
			out = append(out, linkMTU{"vpc " + l.Attrs().Name, l.Attrs().MTU})
		}
	}
	hnl, err := netlink.NewHandleAt(hostNS(t, d, hostID), unix.NETLINK_ROUTE)
	ok(t, err)
	defer hnl.Close()
	eth, err := hnl.LinkByName("eth0")
	ok(t, err)
	return append(out, linkMTU{"host eth0", eth.Attrs().MTU})
}

// dumpEntries lists a VPC copy's permanent entries on its VXLAN device,
// in entryStrings' form.
func dumpEntries(t *testing.T, d *NetnsDriver, vpcID string) []string {
	t.Helper()
	nl := vpcNL(t, d, vpcID)
	vx, err := nl.LinkByName(VXLANName(vpcID))
	ok(t, err)
	idx := vx.Attrs().Index
	var out []string
	fdb, err := nl.NeighList(idx, unix.AF_BRIDGE)
	ok(t, err)
	for _, f := range fdb {
		out = append(out, "fdb "+f.HardwareAddr.String()+" "+f.IP.String())
	}
	neigh, err := nl.NeighList(idx, unix.AF_INET)
	ok(t, err)
	for _, n := range neigh {
		if n.State&netlink.NUD_PERMANENT != 0 {
			out = append(out, "neigh "+n.IP.String()+" "+n.HardwareAddr.String())
		}
	}
	routes, err := nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: idx, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	ok(t, err)
	for _, r := range routes {
		out = append(out, "route "+r.Dst.String())
	}
	return sorted(out)
}

func entryStrings(e Entries) []string {
	var out []string
	for _, p := range e.Peers {
		out = append(out, "fdb "+p.MAC.String()+" "+p.Underlay.String())
	}
	for a, mac := range e.Remote {
		out = append(out, "neigh "+a.String()+" "+mac.String(), "route "+a.String()+"/32")
	}
	return sorted(out)
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// plantNeigh puts a stale entry for ip at mac into ns's eth0 table, as a
// host that had it cached elsewhere would have.
func plantNeigh(t *testing.T, ns netns.NsHandle, a netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	ok(t, err)
	defer nl.Close()
	eth, err := nl.LinkByName("eth0")
	ok(t, err)
	a4 := a.As4()
	ok(t, nl.NeighSet(&netlink.Neigh{LinkIndex: eth.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_STALE,
		IP: net.IP(a4[:]), HardwareAddr: mac}))
	if got := neighOf(t, ns, a); got != mac.String() {
		t.Fatalf("planted %s, table has %q", mac, got)
	}
}

func countUnderlayTables(t *testing.T, nd *ovNode) int {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(nd.ns)))
	ok(t, err)
	tables, err := c.ListTables()
	ok(t, err)
	n := 0
	for _, tb := range tables {
		if tb.Name == UnderlayTable {
			n++
		}
	}
	return n
}
