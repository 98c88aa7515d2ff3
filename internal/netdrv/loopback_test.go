package netdrv

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestLoopbackDriver(t *testing.T) {
	l := newLoopback(testLogger(t))
	t.Cleanup(func() { l.Cleanup() })
	vpc, vsw := newID("vpc"), newID("vsw")
	cidr := netip.MustParsePrefix("192.168.0.0/24")
	gw := netip.MustParseAddr("192.168.0.1")
	host := Host{ID: newID("i"), VpcID: vpc, VSwitchID: vsw, IP: netip.MustParseAddr("192.168.0.10"), Prefix: cidr, Gateway: gw}

	if err := l.EnsureHost(host); !errors.Is(err, ErrNotFound) || l.HasHost(host.ID) {
		t.Fatalf("EnsureHost before VPC: %v, want ErrNotFound", err)
	}
	for range 2 {
		if err := l.EnsureVPC(vpc); err != nil {
			t.Fatal(err)
		}
		if err := l.EnsureVSwitch(vpc, vsw, cidr, gw); err != nil {
			t.Fatal(err)
		}
		if err := l.EnsureHost(host); err != nil {
			t.Fatal(err)
		}
	}

	if !l.HasHost(host.ID) || !l.HasVPC(vpc) {
		t.Error("HasHost/HasVPC false after Ensure*")
	}
	if got := l.MapAddr(vpc, host.IP); got != netip.MustParseAddr("127.168.0.10") {
		t.Errorf("MapAddr = %v", got)
	}
	if got := l.MapAddr(vpc, netip.MustParseAddr("127.1.2.3")); got != netip.MustParseAddr("127.1.2.3") {
		t.Errorf("MapAddr(127.1.2.3) = %v", got)
	}
	if got := l.MapAddr(vpc, netip.IPv4Unspecified()); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("MapAddr(0.0.0.0) = %v", got)
	}
	if got := l.MapAddr("", host.IP); got != host.IP {
		t.Errorf("MapAddr host network = %v", got)
	}
	if got := l.ResolverAddr(vpc); got.Port() != 10053 || !netip.MustParsePrefix("127.254.0.0/16").Contains(got.Addr()) || got == l.ResolverAddr(vpc+"x") {
		t.Errorf("ResolverAddr = %v", got)
	}
	if l.HostNamespace(host.ID) != "" {
		t.Error("HostNamespace")
	}

	// A host listener is reachable from the VPC via the mapped address.
	ln, err := l.ListenHost(host.ID, netip.AddrPortFrom(host.IP, 0))
	if err != nil {
		t.Fatal(err)
	}
	lap := ln.Addr().(*net.TCPAddr).AddrPort()
	if lap.Addr() != netip.MustParseAddr("127.168.0.10") {
		t.Fatalf("listener on %v", lap)
	}
	serveTag(t, ln, "host")
	got, err := readTag(func(ctx context.Context) (net.Conn, error) {
		return l.Dial(ctx, vpc, netip.AddrPortFrom(host.IP, lap.Port()))
	})
	if err != nil || got != "host" {
		t.Fatalf("Dial host = %q, %v", got, err)
	}

	// ENI listener reachable from the host.
	eni := netip.MustParseAddr("192.168.0.50")
	if err := l.AddENI(vpc, vsw, eni); err != nil {
		t.Fatal(err)
	}
	if err := l.AddENI(vpc, vsw, netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("AddENI outside CIDR succeeded")
	}
	eln, err := l.Listen(vpc, netip.AddrPortFrom(eni, 0))
	if err != nil {
		t.Fatal(err)
	}
	serveTag(t, eln, "eni")
	got, err = readTag(func(ctx context.Context) (net.Conn, error) {
		return l.DialHost(ctx, host.ID, netip.AddrPortFrom(eni, eln.Addr().(*net.TCPAddr).AddrPort().Port()))
	})
	if err != nil || got != "eni" {
		t.Fatalf("DialHost ENI = %q, %v", got, err)
	}

	// UDP on the mapped address.
	pc, err := l.ListenPacket(vpc, netip.AddrPortFrom(eni, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if pc.LocalAddr().(*net.UDPAddr).AddrPort().Addr() != netip.MustParseAddr("127.168.0.50") {
		t.Errorf("ListenPacket on %v", pc.LocalAddr())
	}

	out, err := l.ExecCommand(context.Background(), host.ID, []string{"echo", "hi"}).Output()
	if err != nil || strings.TrimSpace(string(out)) != "hi" {
		t.Errorf("ExecCommand = %q, %v", out, err)
	}

	for range 2 {
		if err := l.RemoveENI(vpc, vsw, eni); err != nil {
			t.Fatal(err)
		}
		if err := l.DeleteHost(host.ID); err != nil {
			t.Fatal(err)
		}
		if err := l.DeleteVSwitch(vpc, vsw); err != nil {
			t.Fatal(err)
		}
		if err := l.DeleteVPC(vpc); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.DialHost(context.Background(), host.ID, lap); !errors.Is(err, ErrNotFound) {
		t.Errorf("DialHost after delete: %v", err)
	}
}

func TestLoopbackMappedPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"192.168.0.0/24": "127.168.0.0/24",
		"10.0.0.0/8":     "127.0.0.0/8",
		"0.0.0.0/0":      "127.0.0.0/8",
		"172.16.4.0/22":  "127.16.4.0/22",
	} {
		if got := mappedPrefix(netip.MustParsePrefix(in)); got.String() != want {
			t.Errorf("mappedPrefix(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestNewNetnsWithoutRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("runs as non-root only")
	}
	if _, err := New(Netns, "pltest", testLogger(t)); err == nil {
		t.Fatal("New(netns) succeeded without root")
	}
}

// TestNew checks that New hands out both roles of one driver and refuses
// unknown networks.
func TestNew(t *testing.T) {
	d, err := New(Loopback, "", testLogger(t))
	if err != nil || d.Name != Loopback || d.Topology == nil || d.Sockets == nil {
		t.Fatalf("New(loopback) = %+v, %v", d, err)
	}
	if err := d.Topology.EnsureVPC("vpc-a1"); err != nil || !d.Sockets.HasVPC("vpc-a1") || d.Sockets.HasVPC("vpc-b1") {
		t.Errorf("HasVPC after EnsureVPC: err %v, has a1 %v, has b1 %v", err, d.Sockets.HasVPC("vpc-a1"), d.Sockets.HasVPC("vpc-b1"))
	}
	if _, err := New("bogus", "", testLogger(t)); err == nil {
		t.Error("New(bogus) succeeded")
	}
}
