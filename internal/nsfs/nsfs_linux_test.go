//go:build linux

package nsfs

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func testName(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (creates named network namespaces)")
	}
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck
	name := "plnsfs-" + hex.EncodeToString(b)
	t.Cleanup(func() { Teardown(name) }) //nolint:errcheck
	return name
}

// A created name is listed, opens as a namespace with its own links, and
// Teardown removes its links (the veth peer outside goes with them) and
// the name; a second Teardown is fine.
func TestCreateOpenTeardown(t *testing.T) {
	name := testName(t)
	if err := EnsureRunDir(); err != nil {
		t.Fatal(err)
	}
	origin, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	h, err := Create(origin, name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := Create(origin, name); err == nil {
		t.Fatal("creating an existing name succeeded")
	}
	if names, _ := List(); !slices.Contains(names, name) {
		t.Fatalf("%s not listed in %v", name, names)
	}
	nlh, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer nlh.Close()
	peer := "plnsfs" + name[len(name)-4:]
	if err := nlh.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0"}, PeerName: peer,
		PeerNamespace: netlink.NsFd(int(origin))}); err != nil {
		t.Fatal(err)
	}
	if err := Teardown(name); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(peer); !IsLinkNotFound(err) {
		t.Fatalf("veth peer %s still there after Teardown: %v", peer, err)
	}
	if g, repaired, err := OpenNamed(name); err != nil || g.IsOpen() || repaired {
		t.Fatalf("OpenNamed after Teardown: open %v repaired %v err %v", g.IsOpen(), repaired, err)
	}
	if err := Teardown(name); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
}

// A plain file where a namespace should be mounted (a crash between
// creating and mounting) is not a namespace: Open says so, OpenNamed
// removes it and reports the repair, and the name can be created again.
func TestOpenNamedRepairsUnmountedLeftover(t *testing.T) {
	name := testName(t)
	if err := EnsureRunDir(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(Path(name), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Path(name)); err == nil {
		t.Fatal("Open of a plain file succeeded")
	}
	h, repaired, err := OpenNamed(name)
	if err != nil || h.IsOpen() || !repaired {
		t.Fatalf("OpenNamed: open %v repaired %v err %v", h.IsOpen(), repaired, err)
	}
	if _, err := os.Stat(Path(name)); !os.IsNotExist(err) {
		t.Fatalf("leftover still there: %v", err)
	}
	origin, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close()
	h, err = Create(origin, name)
	if err != nil {
		t.Fatalf("create after repair: %v", err)
	}
	h.Close()
}
