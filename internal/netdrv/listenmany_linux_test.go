//go:build linux

package netdrv

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

// TestNetnsListenMany: ListenMany opens each listener of a batch in the
// batch's VPC only (VPC A and B share a CIDR and the address .70; .50 is
// A's ENI, .60 B's), fails only the entries that cannot be bound (an
// address of the other VPC, a duplicate), and an unknown VPC fails every
// entry. Each listener answers its own tag from its own VPC's host.
func TestNetnsListenMany(t *testing.T) {
	d := newTestNetns(t)
	tp := buildTopo(t, d)
	for _, e := range []struct {
		vpc, vsw string
		ip       string
	}{{tp.vpcA, tp.vswA, "192.168.0.50"}, {tp.vpcA, tp.vswA, "192.168.0.70"}, {tp.vpcB, tp.vswB, "192.168.0.60"}, {tp.vpcB, tp.vswB, "192.168.0.70"}} {
		if err := d.AddENI(e.vpc, e.vsw, netip.MustParseAddr(e.ip)); err != nil {
			t.Fatal(err)
		}
	}
	ap := netip.MustParseAddrPort
	batches := []struct {
		name    string
		vpc     string
		addrs   []netip.AddrPort
		wantErr []error // per address; nil: opened
	}{
		{"A", tp.vpcA,
			[]netip.AddrPort{ap("192.168.0.50:7001"), ap("192.168.0.50:7002"), ap("192.168.0.70:7001"), ap("192.168.0.60:7001"), ap("192.168.0.50:7001"), ap("192.168.0.70:7002")},
			[]error{nil, nil, nil, syscall.EADDRNOTAVAIL, syscall.EADDRINUSE, nil}},
		{"B", tp.vpcB,
			[]netip.AddrPort{ap("192.168.0.60:7001"), ap("192.168.0.70:7001"), ap("192.168.0.50:7001")},
			[]error{nil, nil, syscall.EADDRNOTAVAIL}},
		{"unknown", newID("vpc"),
			[]netip.AddrPort{ap("192.168.0.50:7003"), ap("192.168.0.70:7003")},
			[]error{ErrNotFound, ErrNotFound}},
	}
	host := map[string]string{tp.vpcA: tp.hostA.ID, tp.vpcB: tp.hostB.ID}
	for _, b := range batches {
		lns, errs := d.ListenMany(b.vpc, b.addrs)
		if len(lns) != len(b.addrs) || len(errs) != len(b.addrs) {
			t.Fatalf("%s: %d listeners, %d errors for %d addresses", b.name, len(lns), len(errs), len(b.addrs))
		}
		for i, a := range b.addrs {
			switch want := b.wantErr[i]; {
			case want != nil:
				if lns[i] != nil || !errors.Is(errs[i], want) {
					t.Errorf("%s %s: listener %v, error %v; want error %v", b.name, a, lns[i], errs[i], want)
				}
			case errs[i] != nil || lns[i] == nil:
				t.Errorf("%s %s: %v", b.name, a, errs[i])
			default:
				serveTag(t, lns[i], b.name+" "+a.String())
			}
		}
	}
	// Every opened listener answers its own tag from its VPC's host: .70
	// is in both VPCs, a listener opened in the wrong one answers the
	// other tag or nothing.
	for _, b := range batches {
		for i, a := range b.addrs {
			if b.wantErr[i] != nil {
				continue
			}
			got, err := readTag(func(ctx context.Context) (net.Conn, error) { return d.DialHost(ctx, host[b.vpc], a) })
			if want := b.name + " " + a.String(); err != nil || got != want {
				t.Errorf("host of %s -> %s: %q, %v; want %q", b.name, a, got, err, want)
			}
		}
	}
	// 7002 on .70 is open in A only.
	if got, err := readTag(func(ctx context.Context) (net.Conn, error) {
		return d.DialHost(ctx, tp.hostB.ID, ap("192.168.0.70:7002"))
	}); err == nil {
		t.Errorf("A's listener on .70:7002 answered in B: %q", got)
	}
}
