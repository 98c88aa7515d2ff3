//go:build linux

package netdrv

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
)

// TestNetnsCrashLeftovers makes by hand what a crash (kill -9) in the
// middle of each driver step leaves, then starts a new driver with the
// same prefix (what a restart does) and checks that the leftover blocks
// nothing: the object is made as if it were not there, or pruned.
func TestNetnsCrashLeftovers(t *testing.T) {
	needRoot(t)
	vpcOf := func(t *testing.T, d *NetnsDriver) (string, string) {
		vpc, vsw := newID("vpc"), newID("vsw")
		if err := d.EnsureVPC(vpc); err != nil {
			t.Fatal(err)
		}
		if err := d.EnsureVSwitch(vpc, vsw, cidr0, gw0); err != nil {
			t.Fatal(err)
		}
		return vpc, vsw
	}
	// hostWorks: the host reaches a listener on its gateway.
	hostWorks := func(t *testing.T, d *NetnsDriver, h Host) {
		t.Helper()
		ln, err := d.Listen(h.VpcID, netip.AddrPortFrom(gw0, 7001))
		if err != nil {
			t.Fatal(err)
		}
		serveTag(t, ln, "gw")
		got, err := readTag(func(ctx context.Context) (net.Conn, error) {
			return d.DialHost(ctx, h.ID, netip.AddrPortFrom(gw0, 7001))
		})
		if err != nil || got != "gw" {
			t.Fatalf("host %s to its gateway: %q %v", h.ID, got, err)
		}
	}
	plainFile := func(t *testing.T, name string) {
		t.Helper()
		if err := os.WriteFile(nsfs.Path(name), nil, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		// crash makes the leftover with the first driver; after returns
		// what the restarted driver must do and checks it.
		crash func(t *testing.T, d *NetnsDriver) (after func(t *testing.T, d *NetnsDriver))
	}{
		{"VPC namespace file created, never mounted", func(t *testing.T, d *NetnsDriver) func(*testing.T, *NetnsDriver) {
			vpc := newID("vpc")
			plainFile(t, d.nsName(vpc))
			return func(t *testing.T, d *NetnsDriver) {
				if d.HasVPC(vpc) {
					t.Error("HasVPC is true for an unmounted file")
				}
				if err := d.EnsureVPC(vpc); err != nil {
					t.Fatalf("EnsureVPC over the leftover file: %v", err)
				}
				if !d.HasVPC(vpc) {
					t.Error("the VPC does not exist after EnsureVPC")
				}
			}
		}},
		{"host namespace file created, never mounted", func(t *testing.T, d *NetnsDriver) func(*testing.T, *NetnsDriver) {
			vpc, vsw := vpcOf(t, d)
			h := Host{ID: newID("i"), VpcID: vpc, VSwitchID: vsw, IP: ip10, Prefix: cidr0, Gateway: gw0}
			plainFile(t, d.nsName(h.ID))
			return func(t *testing.T, d *NetnsDriver) {
				if err := d.EnsureHost(h); err != nil {
					t.Fatalf("EnsureHost over the leftover file: %v", err)
				}
				hostWorks(t, d, h)
			}
		}},
		{"unmounted file of a deleted VPC is pruned", func(t *testing.T, d *NetnsDriver) func(*testing.T, *NetnsDriver) {
			vpc := newID("vpc")
			plainFile(t, d.nsName(vpc))
			return func(t *testing.T, d *NetnsDriver) {
				inv, err := d.Inventory()
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range inv.VPCs {
					if err := d.DeleteVPC(id); err != nil {
						t.Fatalf("DeleteVPC(%s): %v", id, err)
					}
				}
				if _, err := os.Stat(nsfs.Path(d.nsName(vpc))); !os.IsNotExist(err) {
					t.Errorf("leftover file still there: %v", err)
				}
			}
		}},
		{"bridge created, not yet marked", func(t *testing.T, d *NetnsDriver) func(*testing.T, *NetnsDriver) {
			vpc, vsw := newID("vpc"), newID("vsw")
			if err := d.EnsureVPC(vpc); err != nil {
				t.Fatal(err)
			}
			v, _ := d.loadVPC(vpc)
			if err := v.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName(vsw)}}); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T, d *NetnsDriver) {
				if err := d.EnsureVSwitch(vpc, vsw, cidr0, gw0); err != nil {
					t.Fatalf("EnsureVSwitch over the half-made bridge: %v", err)
				}
				inv, _ := d.Inventory()
				if !slices.Contains(inv.VSwitches, VSwitchRef{VpcID: vpc, VSwitchID: vsw}) {
					t.Errorf("vSwitch not in the inventory: %+v", inv.VSwitches)
				}
				h := Host{ID: newID("i"), VpcID: vpc, VSwitchID: vsw, IP: ip10, Prefix: cidr0, Gateway: gw0}
				if err := d.EnsureHost(h); err != nil {
					t.Fatal(err)
				}
				hostWorks(t, d, h)
			}
		}},
		{"veth pair created, not yet marked or enslaved", func(t *testing.T, d *NetnsDriver) func(*testing.T, *NetnsDriver) {
			vpc, vsw := vpcOf(t, d)
			h := Host{ID: newID("i"), VpcID: vpc, VSwitchID: vsw, IP: ip10, Prefix: cidr0, Gateway: gw0}
			hns, err := nsfs.Create(d.origin, d.nsName(h.ID))
			if err != nil {
				t.Fatal(err)
			}
			defer hns.Close()
			v, _ := d.loadVPC(vpc)
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostVethName(h.ID)}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(hns))}
			if err := v.nl.LinkAdd(veth); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T, d *NetnsDriver) {
				if err := d.EnsureHost(h); err != nil {
					t.Fatalf("EnsureHost over the half-made veth: %v", err)
				}
				hostWorks(t, d, h)
			}
		}},
		{"host's /etc/netns dir without its namespace is pruned", func(t *testing.T, d *NetnsDriver) func(*testing.T, *NetnsDriver) {
			host := newID("i")
			dir := filepath.Join(nsfs.EtcDir, d.nsName(host))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameser"), 0o644); err != nil {
				t.Fatal(err)
			}
			return func(t *testing.T, d *NetnsDriver) {
				inv, err := d.Inventory()
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(inv.Hosts, host) {
					t.Fatalf("orphan /etc/netns dir not in the inventory: %v", inv.Hosts)
				}
				if err := d.DeleteHost(host); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("%s still there: %v", dir, err)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first := newTestNetns(t) // its Cleanup checks that nothing is left
			after := tc.crash(t, first)
			first.Close() // the crash: handles gone, the machine's state stays
			second, err := newNetns(first.prefix, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer second.Close()
			after(t, second)
		})
	}
}

// TestNetnsBridgeMACStable: deleting a host must not cut the others off
// their gateway. A Linux bridge takes the lowest MAC of its ports unless
// its own was set; when the host owning it left, the gateway's MAC
// changed under the others' ARP caches and their traffic to the gateway
// (the resolver, the ENIs) went nowhere for up to half a minute.
func TestNetnsBridgeMACStable(t *testing.T) {
	d := newTestNetns(t)
	vpc, vsw := newID("vpc"), newID("vsw")
	if err := d.EnsureVPC(vpc); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsureVSwitch(vpc, vsw, cidr0, gw0); err != nil {
		t.Fatal(err)
	}
	v, _ := d.loadVPC(vpc)
	brMAC := func() string {
		br, err := v.nl.LinkByName(BridgeName(vsw))
		if err != nil {
			t.Fatal(err)
		}
		return br.Attrs().HardwareAddr.String()
	}
	before := brMAC()
	ln, err := d.Listen(vpc, netip.AddrPortFrom(gw0, 7001))
	if err != nil {
		t.Fatal(err)
	}
	serveTag(t, ln, "gw")
	var hosts []Host
	for i := range 4 {
		h := Host{ID: newID("i"), VpcID: vpc, VSwitchID: vsw, IP: netip.AddrFrom4([4]byte{192, 168, 0, byte(10 + i)}), Prefix: cidr0, Gateway: gw0}
		if err := d.EnsureHost(h); err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	reach := func(h Host) error {
		_, err := readTag(func(ctx context.Context) (net.Conn, error) {
			return d.DialHost(ctx, h.ID, netip.AddrPortFrom(gw0, 7001))
		})
		return err
	}
	for _, h := range hosts { // every host learns the gateway's MAC
		if err := reach(h); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range hosts[:3] {
		if err := d.DeleteHost(h.ID); err != nil {
			t.Fatal(err)
		}
		if got := brMAC(); got != before {
			t.Errorf("bridge MAC %s became %s after host %d left", before, got, i)
		}
	}
	if err := reach(hosts[3]); err != nil {
		t.Errorf("the last host lost its gateway when the others left: %v", err)
	}
}
