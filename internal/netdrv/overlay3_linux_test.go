package netdrv

import (
	"io"
	"net"
	"net/netip"
	"testing"
)

// TestOverlayThreeNodes: the proxy path over three nodes and a VPC with two
// vSwitches on different nodes. Consumer VPC C: host on n1, ENI on n2.
// Provider VPC P: backend on n3 (vSwitch 10.0.1.0/24), another host on n1
// (vSwitch 10.0.2.0/24), and on n2 a copy with no vSwitch at all, from
// which n2's "proxy" dials the backend.
func TestOverlayThreeNodes(t *testing.T) {
	needRoot(t)
	l := newOvLab(t, 3, 1550)
	n1, n2, n3 := l.nodes[0], l.nodes[1], l.nodes[2]
	c := &ovVPC{id: newID("vpc"), vni: 4200, holders: []*ovNode{n1, n2}, placed: map[netip.Addr]*ovNode{}}
	p := &ovVPC{id: newID("vpc"), vni: 4201, holders: l.nodes, placed: map[netip.Addr]*ovNode{}}
	vswC, vswP1, vswP2 := newID("vsw"), newID("vsw"), newID("vsw")
	cidrC, cidrP1, cidrP2 := netip.MustParsePrefix("192.168.0.0/24"), netip.MustParsePrefix("10.0.1.0/24"), netip.MustParsePrefix("10.0.2.0/24")
	gw := func(p netip.Prefix) netip.Addr { return p.Addr().Next() }
	for _, v := range []*ovVPC{c, p} {
		for _, nd := range v.holders {
			ok(t, nd.d.EnsureVPC(v.id))
			ok(t, nd.d.EnsureOverlay(v.id, v.vni))
		}
	}
	// vSwitches only where something of theirs is placed.
	ok(t, n1.d.EnsureVSwitch(c.id, vswC, cidrC, gw(cidrC)))
	ok(t, n2.d.EnsureVSwitch(c.id, vswC, cidrC, gw(cidrC)))
	ok(t, n3.d.EnsureVSwitch(p.id, vswP1, cidrP1, gw(cidrP1)))
	ok(t, n1.d.EnsureVSwitch(p.id, vswP2, cidrP2, gw(cidrP2)))
	host := func(v *ovVPC, nd *ovNode, vsw string, cidr netip.Prefix, a netip.Addr) string {
		id := newID("i")
		ok(t, nd.d.EnsureHost(Host{ID: id, VpcID: v.id, VSwitchID: vsw, IP: a, Prefix: cidr, Gateway: gw(cidr)}))
		v.placed[a] = nd
		return id
	}
	client, backend, other := ip("192.168.0.11"), ip("10.0.1.10"), ip("10.0.2.10")
	hClient := host(c, n1, vswC, cidrC, client)
	hBackend := host(p, n3, vswP1, cidrP1, backend)
	hOther := host(p, n1, vswP2, cidrP2, other)
	eni := ip("192.168.0.50")
	ok(t, n2.d.AddENI(c.id, vswC, eni))
	c.placed[eni] = n2
	c.program(t)
	p.program(t)

	ln, err := n3.d.ListenHost(hBackend, ap(backend, 3306))
	ok(t, err)
	serve(t, ln, "")
	ln, err = n3.d.ListenHost(hBackend, ap(backend, 3307))
	ok(t, err)
	serve(t, ln, "@peer")
	ln, err = n1.d.ListenHost(hOther, ap(other, 7000))
	ok(t, err)
	serve(t, ln, "@peer")

	t.Run("two vSwitches on two nodes", func(t *testing.T) {
		wantTag(t, "P 10.0.2.10 (n1)", fromHost(n1.d, hOther), ap(backend, 3307), other.String())
		wantTag(t, "P 10.0.1.10 (n3)", fromHost(n3.d, hBackend), ap(other, 7000), backend.String())
	})
	t.Run("proxy path n1 -> ENI on n2 -> backend on n3", func(t *testing.T) {
		pl, err := n2.d.Listen(c.id, ap(eni, 3306))
		ok(t, err)
		t.Cleanup(func() { pl.Close() })
		go proxyTo(n2.d, p.id, pl, ap(backend, 3306))
		if err := echo(fromHost(n1.d, hClient), ap(eni, 3306), 1<<20); err != nil {
			t.Errorf("1 MiB echo through the ENI: %v", err)
		}
		// The backend sees n2's overlay address (n2's copy of P has no
		// bridge, so nothing else could be the source).
		wantTag(t, "P router on n2", fromVPC(n2.d, p.id), ap(backend, 3307), n2.overlayAddr().String())
		// The consumer's host cannot reach the provider's backend directly.
		wantNoConn(t, "C client (n1)", fromHost(n1.d, hClient), ap(backend, 3306))
	})
	t.Run("peers: FDB entries only for the nodes holding the VPC", func(t *testing.T) {
		var fdb int
		for _, e := range dumpEntries(t, n1.d, c.id) {
			if e[:3] == "fdb" {
				fdb++
			}
		}
		if fdb != 1 {
			t.Errorf("n1's copy of C has %d FDB entries, want 1 (n2 only): %v", fdb, dumpEntries(t, n1.d, c.id))
		}
	})
	t.Run("node cut off, its ENI moved, the node returns and steps down", func(t *testing.T) {
		ln, err := n2.d.Listen(c.id, ap(eni, 8080))
		ok(t, err)
		serve(t, ln, "ENI on n2")
		wantTag(t, "C client (n1)", fromHost(n1.d, hClient), ap(eni, 8080), "ENI on n2")
		l.cut(n2)
		wantNoConn(t, "C client (n1), n2 cut off", fromHost(n1.d, hClient), ap(eni, 8080))
		// The control plane moves the ENI to n3, which gets a copy of C;
		// n2 hears nothing and keeps its copy.
		c.holders = l.nodes
		ok(t, n3.d.EnsureVPC(c.id))
		ok(t, n3.d.EnsureOverlay(c.id, c.vni))
		ok(t, n3.d.EnsureVSwitch(c.id, vswC, cidrC, gw(cidrC)))
		ok(t, n3.d.AddENI(c.id, vswC, eni))
		c.placed[eni] = n3
		ln, err = n3.d.Listen(c.id, ap(eni, 8080))
		ok(t, err)
		serve(t, ln, "ENI on n3")
		ok(t, n3.d.AnnounceENI(c.id, vswC, eni))
		ok(t, n1.d.SetOverlayEntries(c.id, c.entries(n1)))
		ok(t, n3.d.SetOverlayEntries(c.id, c.entries(n3)))
		wantTag(t, "C client (n1), ENI moved", fromHost(n1.d, hClient), ap(eni, 8080), "ENI on n3")
		// n2 returns: the others are unaffected by its stale copy.
		l.heal(n2)
		wantTag(t, "C client (n1), n2 back", fromHost(n1.d, hClient), ap(eni, 8080), "ENI on n3")
		// n2 steps down.
		ok(t, n2.d.RemoveENI(c.id, vswC, eni))
		ok(t, n2.d.SetOverlayEntries(c.id, c.entries(n2)))
		wantTag(t, "C client (n1), n2 stepped down", fromHost(n1.d, hClient), ap(eni, 8080), "ENI on n3")
		// No duplicate address: one bridge holds it, every other copy
		// resolves it to n3's VTEP, the client host to its gateway MAC.
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
		for _, nd := range []*ovNode{n1, n2} {
			if got := neighOf(t, vpcNS(t, nd.d, c.id), eni); got != VTEPMAC(n3.underlay).String() {
				t.Errorf("%s's copy resolves the ENI to %q, want n3's VTEP %s", nd.name, got, VTEPMAC(n3.underlay))
			}
		}
		if got := neighOf(t, hostNS(t, n1.d, hClient), eni); got != GatewayMAC(c.vni).String() {
			t.Errorf("the client host resolves the ENI to %q, want its gateway MAC", got)
		}
	})
	t.Run("DeleteOverlay cuts the copy off", func(t *testing.T) {
		ok(t, n2.d.DeleteOverlay(p.id))
		if vx := vxlanDevices(t, n2.d, p.id); len(vx) != 0 {
			t.Errorf("devices left: %v", vx)
		}
		wantNoConn(t, "P router on n2 without overlay", fromVPC(n2.d, p.id), ap(backend, 3307))
		ok(t, n2.d.EnsureOverlay(p.id, p.vni))
		p.program(t)
		wantTag(t, "P router on n2, overlay back", fromVPC(n2.d, p.id), ap(backend, 3307), n2.overlayAddr().String())
	})
}

// proxyTo accepts on ln and splices each connection to a dial of to from
// inside vpcID: what the proxy engine does, in a few lines.
func proxyTo(d *NetnsDriver, vpcID string, ln net.Listener, to netip.AddrPort) {
	for {
		cl, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer cl.Close()
			ctx, cancel := contextWithTimeout()
			defer cancel()
			be, err := d.Dial(ctx, vpcID, to)
			if err != nil {
				return
			}
			defer be.Close()
			done := make(chan struct{})
			go func() { io.Copy(be, cl); be.(*net.TCPConn).CloseWrite(); close(done) }()
			io.Copy(cl, be)
			<-done
		}()
	}
}
