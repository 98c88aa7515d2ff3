//go:build linux

package netdrv

// NETWORK SAFETY: every packet these tests send goes to 127.0.0.0/8 or to an
// address inside a namespace the test created. In particular "not reachable
// from the root namespace" is checked structurally (no link, address or
// route of ours in the root namespace), never by sending to a VPC address
// from the root namespace, which would leave the machine.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
}

// newTestNetns returns a driver with a unique prefix; everything it made is
// removed (and checked) at the end of the test.
func newTestNetns(t testing.TB) *NetnsDriver {
	t.Helper()
	needRoot(t)
	prefix := "pltest" + randB32(6)
	d, err := newNetns(prefix, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Cleanup(); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		d.Close()
		if left := leftovers(prefix); len(left) > 0 {
			t.Errorf("left after Cleanup: %v", left)
		}
	})
	return d
}

// leftovers lists /run/netns and /etc/netns entries starting with prefix.
func leftovers(prefix string) []string {
	var left []string
	for _, dir := range []string{nsfs.RunDir, nsfs.EtcDir} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) {
				left = append(left, filepath.Join(dir, e.Name()))
			}
		}
	}
	return left
}

func run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
	return string(out)
}

func lines(s string) int { return len(strings.Split(strings.TrimSpace(s), "\n")) }

var (
	cidr0 = netip.MustParsePrefix("192.168.0.0/24")
	gw0   = netip.MustParseAddr("192.168.0.1")
	cidr1 = netip.MustParsePrefix("192.168.1.0/24")
	gw1   = netip.MustParseAddr("192.168.1.1")
	ip10  = netip.MustParseAddr("192.168.0.10")
)

// topo: VPC A (vSwitches A 192.168.0.0/24 and A2 192.168.1.0/24, hosts A
// 192.168.0.10 and A2 192.168.1.10) and VPC B with the SAME CIDR (vSwitch B
// 192.168.0.0/24, hosts B 192.168.0.10 and B2 192.168.0.11).
type topo struct {
	d                             *NetnsDriver
	vpcA, vpcB, vswA, vswA2, vswB string
	hostA, hostA2, hostB, hostB2  Host
}

func (tp *topo) ensure(t testing.TB) {
	t.Helper()
	d := tp.d
	for _, v := range []string{tp.vpcA, tp.vpcB} {
		if err := d.EnsureVPC(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		vpc, vsw string
		cidr     netip.Prefix
		gw       netip.Addr
	}{{tp.vpcA, tp.vswA, cidr0, gw0}, {tp.vpcA, tp.vswA2, cidr1, gw1}, {tp.vpcB, tp.vswB, cidr0, gw0}} {
		if err := d.EnsureVSwitch(s.vpc, s.vsw, s.cidr, s.gw); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []Host{tp.hostA, tp.hostA2, tp.hostB, tp.hostB2} {
		if err := d.EnsureHost(h); err != nil {
			t.Fatal(err)
		}
	}
}

func buildTopo(t testing.TB, d *NetnsDriver) *topo {
	t.Helper()
	tp := &topo{d: d, vpcA: newID("vpc"), vpcB: newID("vpc"), vswA: newID("vsw"), vswA2: newID("vsw"), vswB: newID("vsw")}
	tp.hostA = Host{ID: newID("i"), VpcID: tp.vpcA, VSwitchID: tp.vswA, IP: ip10, Prefix: cidr0, Gateway: gw0}
	tp.hostA2 = Host{ID: newID("i"), VpcID: tp.vpcA, VSwitchID: tp.vswA2, IP: netip.MustParseAddr("192.168.1.10"), Prefix: cidr1, Gateway: gw1}
	tp.hostB = Host{ID: newID("i"), VpcID: tp.vpcB, VSwitchID: tp.vswB, IP: ip10, Prefix: cidr0, Gateway: gw0}
	tp.hostB2 = Host{ID: newID("i"), VpcID: tp.vpcB, VSwitchID: tp.vswB, IP: netip.MustParseAddr("192.168.0.11"), Prefix: cidr0, Gateway: gw0}
	tp.ensure(t)
	return tp
}

func rootLinkNames(t testing.TB) map[string]bool {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, l := range links {
		m[l.Attrs().Name] = true
	}
	return m
}

func TestNetnsIsolationSameCIDR(t *testing.T) {
	d := newTestNetns(t)
	rootBefore := rootLinkNames(t)
	tp := buildTopo(t, d)

	lnA, err := d.ListenHost(tp.hostA.ID, netip.AddrPortFrom(ip10, 7001))
	if err != nil {
		t.Fatal(err)
	}
	serveTag(t, lnA, "A")
	lnB, err := d.ListenHost(tp.hostB.ID, netip.AddrPortFrom(ip10, 7002))
	if err != nil {
		t.Fatal(err)
	}
	serveTag(t, lnB, "B")
	a7001 := netip.AddrPortFrom(ip10, 7001)
	a7002 := netip.AddrPortFrom(ip10, 7002)

	fromVPC := func(vpc string, ap netip.AddrPort) func(context.Context) (net.Conn, error) {
		return func(ctx context.Context) (net.Conn, error) { return d.Dial(ctx, vpc, ap) }
	}
	fromHost := func(h Host, ap netip.AddrPort) func(context.Context) (net.Conn, error) {
		return func(ctx context.Context) (net.Conn, error) { return d.DialHost(ctx, h.ID, ap) }
	}
	reach := []struct {
		name string
		dial func(context.Context) (net.Conn, error)
		want string
	}{
		{"VPC A router -> host A", fromVPC(tp.vpcA, a7001), "A"},
		{"host A2 (other vSwitch) -> host A", fromHost(tp.hostA2, a7001), "A"},
		{"VPC B router -> host B", fromVPC(tp.vpcB, a7002), "B"},
		{"host B2 -> host B", fromHost(tp.hostB2, a7002), "B"},
	}
	for _, r := range reach {
		got, err := readTag(r.dial)
		if err != nil || got != r.want {
			t.Errorf("%s: got %q, %v; want %q", r.name, got, err, r.want)
		}
	}
	// Same address in the other VPC is the other host: refused at once.
	unreach := []struct {
		name string
		dial func(context.Context) (net.Conn, error)
	}{
		{"VPC B router -> host A's listener", fromVPC(tp.vpcB, a7001)},
		{"host B2 -> host A's listener", fromHost(tp.hostB2, a7001)},
		{"host B -> host A's listener", fromHost(tp.hostB, a7001)},
		{"VPC A router -> host B's listener", fromVPC(tp.vpcA, a7002)},
		{"host A2 -> host B's listener", fromHost(tp.hostA2, a7002)},
	}
	for _, r := range unreach {
		start := time.Now()
		got, err := readTag(r.dial)
		if err == nil {
			t.Errorf("%s: connected (%q)", r.name, got)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Logf("%s: %v (not ECONNREFUSED)", r.name, err)
		}
		if time.Since(start) > 3*time.Second {
			t.Errorf("%s: took %v", r.name, time.Since(start))
		}
	}

	// Root namespace: nothing of ours there, so it cannot reach (and is
	// not reachable from) any VPC. Checked without sending anything.
	rootAfter := rootLinkNames(t)
	for n := range rootAfter {
		if !rootBefore[n] {
			t.Errorf("new link %q in the root namespace", n)
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ip := addrOf(a); ip == ResolverIP || cidr0.Contains(ip) || cidr1.Contains(ip) {
			t.Errorf("VPC address %v in the root namespace", a)
		}
	}
	if routes, err := netlink.RouteGet(net.IP(ip10.AsSlice())); err == nil { // a lookup, no packet
		for _, r := range routes {
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil && !rootBefore[l.Attrs().Name] {
				t.Errorf("root route to %v via our link %s", ip10, l.Attrs().Name)
			}
		}
	}
	for _, v := range []string{tp.vpcA, tp.vpcB} {
		if d.vpcs[v].ns.Equal(d.origin) {
			t.Errorf("VPC %s namespace is the root namespace", v)
		}
	}
}

func TestNetnsENI(t *testing.T) {
	d := newTestNetns(t)
	tp := buildTopo(t, d)
	eni := netip.MustParseAddr("192.168.0.50")
	for range 2 {
		if err := d.AddENI(tp.vpcA, tp.vswA, eni); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"192.168.1.50", "192.168.0.1", "192.168.0.0"} {
		if err := d.AddENI(tp.vpcA, tp.vswA, netip.MustParseAddr(bad)); err == nil {
			t.Errorf("AddENI(%s) succeeded", bad)
		}
	}
	if err := d.AddENI(tp.vpcA, newID("vsw"), eni); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddENI on unknown vSwitch: %v", err)
	}
	ln, err := d.Listen(tp.vpcA, netip.AddrPortFrom(eni, 6001))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peer <- nil
			return
		}
		peer <- c.RemoteAddr()
		c.Write([]byte("eni"))
		c.Close()
	}()
	got, err := readTag(func(ctx context.Context) (net.Conn, error) {
		return d.DialHost(ctx, tp.hostA.ID, netip.AddrPortFrom(eni, 6001))
	})
	if err != nil || got != "eni" {
		t.Fatalf("host A -> ENI: %q, %v", got, err)
	}
	if p := <-peer; p == nil || p.(*net.TCPAddr).AddrPort().Addr() != tp.hostA.IP {
		t.Errorf("ENI saw peer %v, want %v", p, tp.hostA.IP)
	}
	// The same ENI address does not exist in VPC B.
	if l, err := d.Listen(tp.vpcB, netip.AddrPortFrom(eni, 6001)); err == nil {
		l.Close()
		t.Error("ENI address bindable in VPC B")
	}

	for range 2 {
		if err := d.RemoveENI(tp.vpcA, tp.vswA, eni); err != nil {
			t.Fatal(err)
		}
	}
	out := run(t, "ip", "-n", d.VPCNamespace(tp.vpcA), "-4", "-o", "addr", "show", "dev", BridgeName(tp.vswA))
	if strings.Contains(out, eni.String()) {
		t.Errorf("ENI still present after RemoveENI:\n%s", out)
	}
	if !strings.Contains(out, "192.168.0.1/24") {
		t.Errorf("gateway gone after RemoveENI:\n%s", out)
	}
	if l, err := d.Listen(tp.vpcA, netip.AddrPortFrom(eni, 6002)); err == nil {
		l.Close()
		t.Error("removed ENI address still bindable")
	} else if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("Listen on removed ENI: %v", err)
	}
}

func TestNetnsResolverAddress(t *testing.T) {
	d := newTestNetns(t)
	tp := buildTopo(t, d)
	ra := d.ResolverAddr(tp.vpcA)
	if ra != netip.MustParseAddrPort("169.254.169.253:53") {
		t.Fatalf("ResolverAddr = %v", ra)
	}
	srv, err := d.ListenPacket(tp.vpcA, ra)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	peers := make(chan netip.Addr, 2)
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			peers <- from.(*net.UDPAddr).AddrPort().Addr()
			srv.WriteTo(append([]byte("pong:"), buf[:n]...), from)
		}
	}()
	for _, h := range []Host{tp.hostA, tp.hostA2} {
		c, err := d.ListenPacketHost(h.ID, netip.MustParseAddrPort("0.0.0.0:0"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.WriteTo([]byte("ping"), net.UDPAddrFromAddrPort(ra)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		n, from, err := c.ReadFrom(buf)
		c.Close()
		if err != nil || string(buf[:n]) != "pong:ping" || from.(*net.UDPAddr).AddrPort() != ra {
			t.Fatalf("host %s: reply %q from %v, %v", h.IP, buf[:n], from, err)
		}
		if p := <-peers; p != h.IP {
			t.Errorf("resolver saw %v, want %v", p, h.IP)
		}
	}
}

func TestNetnsExecCommand(t *testing.T) {
	d := newTestNetns(t)
	tp := buildTopo(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got := d.HostNamespace(tp.hostA.ID); got != d.Prefix()+"-"+tp.hostA.ID {
		t.Errorf("HostNamespace = %q", got)
	}
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"cat", "/etc/resolv.conf"}, "nameserver 169.254.169.253"},
		{[]string{"ip", "-4", "-o", "addr", "show", "dev", "eth0"}, "192.168.0.10/24"},
		{[]string{"ip", "route", "show", "default"}, "default via 192.168.0.1 dev eth0"},
	} {
		out, err := d.ExecCommand(ctx, tp.hostA.ID, c.argv).CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%v: %v\n%s\nwant %q", c.argv, err, out, c.want)
		}
	}
}

func TestNetnsIdempotentAndCleanup(t *testing.T) {
	d := newTestNetns(t)
	rootBefore := rootLinkNames(t)
	tp := buildTopo(t, d)
	if err := d.AddENI(tp.vpcA, tp.vswA, netip.MustParseAddr("192.168.0.50")); err != nil {
		t.Fatal(err)
	}
	tp.ensure(t)
	tp.ensure(t)
	if err := d.AddENI(tp.vpcA, tp.vswA, netip.MustParseAddr("192.168.0.50")); err != nil {
		t.Fatal(err)
	}

	vpcNS := d.VPCNamespace(tp.vpcA)
	if n := lines(run(t, "ip", "-n", vpcNS, "-o", "link")); n != 5 { // lo, 2 bridges, 2 veths
		t.Errorf("VPC A has %d links, want 5", n)
	}
	if n := lines(run(t, "ip", "-n", vpcNS, "-o", "-4", "addr")); n != 5 { // 127.0.0.1, resolver, 2 gateways, ENI
		t.Errorf("VPC A has %d addresses, want 5", n)
	}
	if got := strings.TrimSpace(run(t, "ip", "netns", "exec", vpcNS, "cat", "/proc/sys/net/ipv4/ip_forward")); got != "1" {
		t.Errorf("ip_forward in VPC = %q", got)
	}
	hostNS := d.HostNamespace(tp.hostA.ID)
	if n := lines(run(t, "ip", "-n", hostNS, "-o", "link")); n != 2 {
		t.Errorf("host A has %d links, want 2", n)
	}
	if n := lines(run(t, "ip", "-n", hostNS, "-o", "-4", "addr")); n != 2 {
		t.Errorf("host A has %d addresses, want 2", n)
	}
	if n := lines(run(t, "ip", "-n", hostNS, "-4", "route")); n != 2 {
		t.Errorf("host A has %d routes, want 2", n)
	}
	for n := range rootLinkNames(t) {
		if !rootBefore[n] {
			t.Errorf("new link %q in the root namespace", n)
		}
	}

	// Re-addressing a host replaces its address instead of adding one.
	moved := tp.hostA
	moved.IP = netip.MustParseAddr("192.168.0.20")
	if err := d.EnsureHost(moved); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-n", hostNS, "-o", "-4", "addr", "show", "dev", "eth0"); lines(out) != 1 || !strings.Contains(out, "192.168.0.20/24") {
		t.Errorf("after re-addressing:\n%s", out)
	}
	// Moving a host to another vSwitch re-plumbs it.
	moved = tp.hostA
	moved.VSwitchID, moved.Prefix, moved.Gateway, moved.IP = tp.vswA2, cidr1, gw1, netip.MustParseAddr("192.168.1.20")
	if err := d.EnsureHost(moved); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-n", vpcNS, "-o", "link", "show", "master", BridgeName(tp.vswA2)); lines(out) != 2 {
		t.Errorf("after move, bridge A2 ports:\n%s", out)
	}

	// Deletes are idempotent and remove names.
	for range 2 {
		if err := d.DeleteHost(tp.hostB2.ID); err != nil {
			t.Fatal(err)
		}
		if err := d.DeleteVSwitch(tp.vpcA, tp.vswA2); err != nil { // takes host A2 and (moved) host A along
			t.Fatal(err)
		}
		if err := d.DeleteVPC(tp.vpcB); err != nil { // takes host B along
			t.Fatal(err)
		}
	}
	list := run(t, "ip", "netns", "list")
	for _, gone := range []string{tp.hostB2.ID, tp.hostA2.ID, tp.hostA.ID, tp.vpcB, tp.hostB.ID} {
		if strings.Contains(list, gone) {
			t.Errorf("%s still listed:\n%s", gone, list)
		}
	}
	if _, err := os.Stat(filepath.Join(nsfs.EtcDir, d.HostNamespace(tp.hostB.ID))); !os.IsNotExist(err) {
		t.Errorf("/etc/netns dir of deleted host: %v", err)
	}
	if !strings.Contains(list, tp.vpcA) {
		t.Errorf("VPC A gone:\n%s", list)
	}

	// A namespace of a previous run (not known to this driver instance) is
	// picked up by a second instance and removed by Cleanup.
	d2, err := newNetns(d.Prefix(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if !d2.HasVPC(tp.vpcA) || d2.HasVPC(tp.vpcB) {
		t.Errorf("second instance: HasVPC(A) %v, HasVPC(deleted B) %v; want true, false", d2.HasVPC(tp.vpcA), d2.HasVPC(tp.vpcB))
	}
	if err := d2.EnsureVPC(tp.vpcA); err != nil {
		t.Fatal(err)
	}
	if n := lines(run(t, "ip", "-n", vpcNS, "-o", "link")); n != 2 { // lo + bridge A
		t.Errorf("VPC A has %d links after partial delete, want 2", n)
	}
	if err := d2.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(d.Prefix()); len(left) > 0 {
		t.Errorf("left after Cleanup: %v", left)
	}
	if strings.Contains(run(t, "ip", "netns", "list"), d.Prefix()) {
		t.Error("ip netns list still shows our namespaces")
	}
}

func TestNetnsAdoptVPC(t *testing.T) {
	d := newTestNetns(t)
	name := d.Prefix() + "adopted" // not "<prefix>-<id>": Cleanup must not touch it
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	path := filepath.Join(nsfs.RunDir, name)
	fwdBefore := strings.TrimSpace(run(t, "ip", "netns", "exec", name, "cat", "/proc/sys/net/ipv4/ip_forward"))

	vpc, vsw := newID("vpc"), newID("vsw")
	if err := d.AdoptVPC(newID("vpc"), "/proc/self/ns/net"); err == nil {
		t.Fatal("adopting the host namespace succeeded")
	}
	if d.HasVPC(vpc) {
		t.Error("HasVPC before adoption")
	}
	for range 2 {
		if err := d.AdoptVPC(vpc, path); err != nil {
			t.Fatal(err)
		}
	}
	if !d.HasVPC(vpc) {
		t.Error("HasVPC false after adoption")
	}
	if err := d.AdoptVPC(vpc, "/proc/1/ns/net"); err == nil {
		t.Error("re-adopting a VPC from another namespace succeeded")
	}
	if err := d.EnsureVPC(vpc); err != nil { // fine: reconfigures the adopted ns
		t.Fatal(err)
	}
	if err := d.EnsureVSwitch(vpc, vsw, cidr0, gw0); err != nil {
		t.Fatal(err)
	}
	host := Host{ID: newID("i"), VpcID: vpc, VSwitchID: vsw, IP: ip10, Prefix: cidr0, Gateway: gw0}
	if d.HasHost(host.ID) {
		t.Error("HasHost before EnsureHost")
	}
	if err := d.EnsureHost(host); err != nil {
		t.Fatal(err)
	}
	if !d.HasHost(host.ID) {
		t.Error("HasHost false after EnsureHost")
	}
	if err := d.AddENI(vpc, vsw, netip.MustParseAddr("192.168.0.50")); err != nil {
		t.Fatal(err)
	}
	ln, err := d.ListenHost(host.ID, netip.AddrPortFrom(ip10, 7001))
	if err != nil {
		t.Fatal(err)
	}
	serveTag(t, ln, "adopted")
	if got, err := readTag(func(ctx context.Context) (net.Conn, error) {
		return d.Dial(ctx, vpc, netip.AddrPortFrom(ip10, 7001))
	}); err != nil || got != "adopted" {
		t.Fatalf("Dial in adopted VPC: %q, %v", got, err)
	}
	if out := run(t, "ip", "-n", name, "-o", "link"); !strings.Contains(out, BridgeName(vsw)) {
		t.Fatalf("no bridge in adopted ns:\n%s", out)
	}

	for range 2 {
		if err := d.DeleteVPC(vpc); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(run(t, "ip", "netns", "list"), name) {
		t.Fatal("adopted namespace deleted")
	}
	if n := lines(run(t, "ip", "-n", name, "-o", "link")); n != 1 {
		t.Errorf("adopted ns keeps links:\n%s", run(t, "ip", "-n", name, "-o", "link"))
	}
	if out := run(t, "ip", "-n", name, "-4", "addr"); strings.Contains(out, ResolverIP.String()) {
		t.Errorf("resolver address left in adopted ns:\n%s", out)
	}
	if got := strings.TrimSpace(run(t, "ip", "netns", "exec", name, "cat", "/proc/sys/net/ipv4/ip_forward")); got != fwdBefore {
		t.Errorf("ip_forward not restored: %q", got)
	}
	if strings.Contains(run(t, "ip", "netns", "list"), host.ID) {
		t.Error("host of the adopted VPC not deleted")
	}
}

// After many concurrent in-namespace socket operations every thread the
// runtime hands out is back in the original namespace.
func TestNetnsThreadsRestored(t *testing.T) {
	d := newTestNetns(t)
	vpc := newID("vpc")
	if err := d.EnsureVPC(vpc); err != nil {
		t.Fatal(err)
	}
	ln, err := d.Listen(vpc, netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	serveTag(t, ln, "x")
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 10 {
				got, err := readTag(func(ctx context.Context) (net.Conn, error) { return d.Dial(ctx, vpc, ap) })
				if err != nil || got != "x" {
					t.Errorf("Dial: %q, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	// The listener lives in the VPC: the same port on the root loopback is
	// someone else's or nobody's.
	if c, err := net.DialTimeout("tcp", ap.String(), time.Second); err == nil {
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) == "x" {
			t.Error("VPC listener reachable from the root namespace loopback")
		}
	}
	var bad sync.Map
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cur, err := netns.Get()
			if err != nil {
				t.Error(err)
				return
			}
			defer cur.Close()
			if !cur.Equal(d.origin) {
				bad.Store(cur.UniqueId(), true)
			}
			time.Sleep(10 * time.Millisecond)
		})
	}
	wg.Wait()
	bad.Range(func(k, _ any) bool { t.Errorf("thread left in namespace %v", k); return true })
	// /proc/self/ns/net follows the main thread, which must never be parked
	// in a foreign namespace.
	self, err := netns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	if !self.Equal(d.origin) {
		t.Errorf("/proc/self/ns/net = %v, want %v", self.UniqueId(), d.origin.UniqueId())
	}
}

func TestNetnsValidation(t *testing.T) {
	d := newTestNetns(t)
	if err := d.EnsureVPC("VPC_bad"); err == nil {
		t.Error("bad VPC ID accepted")
	}
	if err := d.EnsureVSwitch(newID("vpc"), newID("vsw"), cidr0, gw0); !errors.Is(err, ErrNotFound) {
		t.Errorf("EnsureVSwitch in unknown VPC: %v", err)
	}
	vpc := newID("vpc")
	if err := d.EnsureVPC(vpc); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureVSwitch(vpc, newID("vsw"), netip.MustParsePrefix("192.168.0.5/24"), gw0); err == nil {
		t.Error("unmasked CIDR accepted")
	}
	if err := d.EnsureHost(Host{ID: newID("i"), VpcID: vpc, VSwitchID: newID("vsw"), IP: ip10, Prefix: cidr0, Gateway: gw0}); !errors.Is(err, ErrNotFound) {
		t.Errorf("EnsureHost on unknown vSwitch: %v", err)
	}
	if _, err := d.Dial(context.Background(), newID("vpc"), netip.MustParseAddrPort("127.0.0.1:1")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Dial in unknown VPC: %v", err)
	}
	if err := d.DeleteVPC(newID("vpc")); err != nil {
		t.Errorf("DeleteVPC of unknown VPC: %v", err)
	}
	if err := d.DeleteHost(newID("i")); err != nil {
		t.Errorf("DeleteHost of unknown host: %v", err)
	}
	if err := d.RemoveENI(newID("vpc"), newID("vsw"), ip10); err != nil {
		t.Errorf("RemoveENI in unknown VPC: %v", err)
	}
	if !d.ours(d.Prefix()+"-vpc-abc") || d.ours(d.Prefix()+"-x-vpc-abc") || d.ours(d.Prefix()+"x-vpc-abc") {
		t.Error("ours() prefix matching")
	}
}

// Dial cost: inside a VPC namespace (two extra setns) vs the root namespace.
func benchDial(b *testing.B, dial func(context.Context, netip.AddrPort) (net.Conn, error), ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	ctx := context.Background()
	for b.Loop() {
		c, err := dial(ctx, ap)
		if err != nil {
			b.Fatal(err)
		}
		c.(*net.TCPConn).SetLinger(0) // RST: no TIME_WAIT pile-up
		c.Close()
	}
}

func BenchmarkDialInNS(b *testing.B) {
	d := newTestNetns(b)
	vpc := newID("vpc")
	if err := d.EnsureVPC(vpc); err != nil {
		b.Fatal(err)
	}
	ln, err := d.Listen(vpc, netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	benchDial(b, func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) { return d.Dial(ctx, vpc, ap) }, ln)
}

func BenchmarkDialPlain(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	benchDial(b, dialTCP, ln)
}

// Dial honours the context: an absent host on the vSwitch (ARP never
// answered, all inside the VPC namespace) times out or is cancelled.
func TestNetnsDialContext(t *testing.T) {
	d := newTestNetns(t)
	tp := buildTopo(t, d)
	nobody := netip.MustParseAddrPort("192.168.0.99:80")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := d.Dial(ctx, tp.vpcA, nobody)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Dial with deadline: %v, want a timeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Dial with deadline took %v", el)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	_, err = d.DialHost(ctx, tp.hostA.ID, nobody)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("DialHost cancelled: %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("cancelled DialHost took %v", el)
	}

	// A successful in-namespace dial looks like a normal TCP dial.
	ln, err := d.ListenHost(tp.hostA.ID, netip.AddrPortFrom(ip10, 7005))
	if err != nil {
		t.Fatal(err)
	}
	serveTag(t, ln, "ok")
	c, err := d.Dial(context.Background(), tp.vpcA, netip.AddrPortFrom(ip10, 7005))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*net.TCPConn); !ok {
		t.Errorf("Dial returned %T", c)
	}
	if ra := c.RemoteAddr().(*net.TCPAddr).AddrPort(); ra != netip.AddrPortFrom(ip10, 7005) {
		t.Errorf("RemoteAddr = %v", ra)
	}
	if la := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); la != gw0 {
		t.Errorf("LocalAddr = %v, want the gateway %v", la, gw0)
	}
}

// The straightforward alternative to dialIn, for comparison: net.Dialer on
// the thread switched into the namespace (the goroutine parks while locked).
func BenchmarkDialInNSLockedDialer(b *testing.B) {
	d := newTestNetns(b)
	vpc := newID("vpc")
	if err := d.EnsureVPC(vpc); err != nil {
		b.Fatal(err)
	}
	ln, err := d.Listen(vpc, netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	benchDial(b, func(ctx context.Context, ap netip.AddrPort) (c net.Conn, err error) {
		err = d.runInVPC(vpc, func() (e error) { c, e = dialTCP(ctx, ap); return })
		return c, err
	}, ln)
}
