//go:build linux

package netdrv

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestNetnsENIGatewayKnown checks that AddENI, which checks an ENI against
// the vSwitch's gateway prefix the driver keeps instead of listing the
// bridge's addresses, follows the vSwitch: re-made with another CIDR,
// deleted, re-added, and made by a previous process (a new driver over
// the same namespaces reads the bridge once).
func TestNetnsENIGatewayKnown(t *testing.T) {
	d := newTestNetns(t)
	tp := buildTopo(t, d)
	cidr9, gw9 := netip.MustParsePrefix("10.9.0.0/24"), netip.MustParseAddr("10.9.0.1")
	type step struct {
		name string
		do   func() error // before the ENIs (nil: none)
		eni  string
		ok   bool
		nf   bool // refused with ErrNotFound
	}
	addrs := func() string {
		return run(t, "ip", "-n", d.VPCNamespace(tp.vpcA), "-4", "-o", "addr", "show", "dev", BridgeName(tp.vswA))
	}
	again := func(drv *NetnsDriver) func() error {
		return func() error { return drv.EnsureVSwitch(tp.vpcA, tp.vswA, cidr0, gw0) }
	}
	steps := []step{
		{name: "in the CIDR", eni: "192.168.0.50", ok: true},
		{name: "already there (EEXIST)", eni: "192.168.0.50", ok: true},
		{name: "gateway", eni: "192.168.0.1"},
		{name: "network address", eni: "192.168.0.0"},
		{name: "outside", eni: "192.168.1.50"},
		{name: "vSwitch re-made with another CIDR: old CIDR refused",
			do: func() error { return d.EnsureVSwitch(tp.vpcA, tp.vswA, cidr9, gw9) }, eni: "192.168.0.60"},
		{name: "new CIDR accepted", eni: "10.9.0.50", ok: true},
		{name: "new gateway refused", eni: "10.9.0.1"},
		{name: "vSwitch deleted", do: func() error { return d.DeleteVSwitch(tp.vpcA, tp.vswA) }, eni: "10.9.0.51", nf: true},
		{name: "vSwitch re-added with the first CIDR", do: again(d), eni: "192.168.0.60", ok: true},
		{name: "new CIDR refused again", eni: "10.9.0.52"},
	}
	for _, s := range steps {
		if s.do != nil {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		err := d.AddENI(tp.vpcA, tp.vswA, netip.MustParseAddr(s.eni))
		switch {
		case s.ok && err != nil:
			t.Errorf("%s: AddENI(%s): %v", s.name, s.eni, err)
		case s.nf && !errors.Is(err, ErrNotFound):
			t.Errorf("%s: AddENI(%s) = %v, want ErrNotFound", s.name, s.eni, err)
		case !s.ok && err == nil:
			t.Errorf("%s: AddENI(%s) succeeded", s.name, s.eni)
		}
		if s.nf {
			continue // no bridge to look at
		}
		if has := strings.Contains(addrs(), " "+s.eni+"/32"); s.ok != has {
			t.Errorf("%s: ENI %s on the bridge = %v, want %v:\n%s", s.name, s.eni, has, s.ok, addrs())
		}
	}

	// A new process over the same namespaces knows no gateway: it reads
	// the bridge's once.
	d2, err := newNetns(d.prefix, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	for _, s := range []step{
		{name: "new driver: in the CIDR", eni: "192.168.0.70", ok: true},
		{name: "new driver: gateway", eni: "192.168.0.1"},
		{name: "new driver: outside", eni: "10.9.0.53"},
	} {
		err := d2.AddENI(tp.vpcA, tp.vswA, netip.MustParseAddr(s.eni))
		if s.ok != (err == nil) {
			t.Errorf("%s: AddENI(%s) = %v, want ok=%v", s.name, s.eni, err, s.ok)
		}
	}
	if err := d2.RemoveENI(tp.vpcA, tp.vswA, netip.MustParseAddr("192.168.0.70")); err != nil {
		t.Fatal(err)
	}
	if err := d2.RemoveENI(tp.vpcA, tp.vswA, netip.MustParseAddr("192.168.0.1")); err != nil {
		t.Fatal(err) // a /32 delete of the gateway's address: nothing to do
	}
	out := addrs()
	if strings.Contains(out, "192.168.0.70/") || !strings.Contains(out, "192.168.0.1/24") || !strings.Contains(out, "192.168.0.60/32") {
		t.Errorf("after RemoveENI: want 192.168.0.70 gone, the gateway and 192.168.0.60 kept:\n%s", out)
	}
}

// TestNetnsEnsureVSwitchesAfterRestart: a new process ensures a VPC's
// vSwitches from one dump of the namespace's addresses (bridgeNets): each
// bridge still ends with exactly its gateway (a stale gateway of another
// CIDR left on one is dropped), its ENIs stay, and a vSwitch ensured a
// second time (read on its own) changes nothing.
func TestNetnsEnsureVSwitchesAfterRestart(t *testing.T) {
	d := newTestNetns(t)
	tp := buildTopo(t, d)
	for _, e := range []struct{ vsw, ip string }{{tp.vswA, "192.168.0.50"}, {tp.vswA2, "192.168.1.50"}} {
		if err := d.AddENI(tp.vpcA, e.vsw, netip.MustParseAddr(e.ip)); err != nil {
			t.Fatal(err)
		}
	}
	ns := d.VPCNamespace(tp.vpcA)
	run(t, "ip", "-n", ns, "addr", "add", "10.77.0.1/24", "dev", BridgeName(tp.vswA2)) // a stale gateway
	addrs := func(vsw string) string {
		var out []string
		for _, f := range strings.Fields(run(t, "ip", "-n", ns, "-4", "-o", "addr", "show", "dev", BridgeName(vsw))) {
			if strings.Contains(f, "/") {
				out = append(out, f)
			}
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	want := map[string]string{tp.vswA: "192.168.0.1/24 192.168.0.50/32", tp.vswA2: "192.168.1.1/24 192.168.1.50/32"}
	d2, err := newNetns(d.prefix, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	for round := range 2 {
		for _, v := range []struct {
			vsw  string
			cidr netip.Prefix
			gw   netip.Addr
		}{{tp.vswA, cidr0, gw0}, {tp.vswA2, cidr1, gw1}} {
			if err := d2.EnsureVSwitch(tp.vpcA, v.vsw, v.cidr, v.gw); err != nil {
				t.Fatalf("round %d: EnsureVSwitch %s: %v", round, v.vsw, err)
			}
			if got := addrs(v.vsw); got != want[v.vsw] {
				t.Errorf("round %d: bridge of %s holds %q, want %q", round, v.vsw, got, want[v.vsw])
			}
		}
	}
}
