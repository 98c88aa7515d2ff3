package apiserver_test

import (
	"errors"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/apiserver"
	"github.com/privlink/privlink/internal/store"
)

// TestOwnedIndexMarker: the account index pass runs at start until one
// pass has completed, then a marker record makes later starts skip it; a
// pass stopped part-way (a crash) leaves no marker, so the next start
// still repairs a missing index entry.
func TestOwnedIndexMarker(t *testing.T) {
	e := startControlPlane(t)
	c, id := e.Account(t, "marker")
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	ownedKey := e.Store.OwnedKey(id, store.KindVPC, vpc.VpcID)
	dropIndex := func() {
		t.Helper()
		if ok, err := e.Store.NewTxn().Delete(ownedKey).Commit(bg); !ok || err != nil {
			t.Fatal("delete the index key:", ok, err)
		}
	}
	hasIndex := func() bool {
		t.Helper()
		keys, err := e.Store.KeySet(bg, ownedKey)
		if err != nil {
			t.Fatal(err)
		}
		return keys[ownedKey]
	}
	dropMarker := func() {
		t.Helper()
		if ok, err := e.Store.NewTxn().Delete(e.Store.MetaKey(apiserver.OwnedIndexMeta)).Commit(bg); !ok || err != nil {
			t.Fatal("delete the marker:", ok, err)
		}
	}
	// The server's start ran a whole pass: the marker is there.
	if _, ok, err := e.Store.Meta(bg, apiserver.OwnedIndexMeta); err != nil || !ok {
		t.Fatalf("no index marker after the server's start: %v", err)
	}

	// A pass that stops part-way (here: before the last kinds) writes no
	// marker, and what it did not reach stays missing.
	dropIndex()
	dropMarker()
	restore := apiserver.SetIndexPassHook(func(kind string) error {
		if kind == store.KindVSwitch {
			return errors.New("crash")
		}
		return nil
	})
	if _, ran, err := apiserver.EnsureOwnedIndex(bg, e.Store); err == nil || !ran {
		t.Fatalf("interrupted pass: ran %v, err %v; want an error", ran, err)
	}
	restore()
	if _, ok, _ := e.Store.Meta(bg, apiserver.OwnedIndexMeta); ok {
		t.Fatal("an interrupted pass left the marker")
	}
	// The VPC kind comes first, so the interrupted pass did repair it:
	// drop it again for the next start to find missing.
	if !hasIndex() {
		t.Fatal("the pass did not reach the VPCs before it stopped")
	}
	dropIndex()

	// Marker absent: the next start repairs the entry and writes it.
	if n, ran, err := apiserver.EnsureOwnedIndex(bg, e.Store); err != nil || !ran || n != 1 {
		t.Fatalf("EnsureOwnedIndex without marker = %d, ran %v, %v; want 1, true", n, ran, err)
	}
	if !hasIndex() {
		t.Fatal("missing index entry not repaired")
	}
	if _, ok, _ := e.Store.Meta(bg, apiserver.OwnedIndexMeta); !ok {
		t.Fatal("a completed pass wrote no marker")
	}

	// Marker present: the pass is skipped (it would have repaired this).
	dropIndex()
	if n, ran, err := apiserver.EnsureOwnedIndex(bg, e.Store); err != nil || ran || n != 0 {
		t.Fatalf("EnsureOwnedIndex with marker = %d, ran %v, %v; want 0, false", n, ran, err)
	}
	if hasIndex() {
		t.Fatal("the pass ran although the marker was there")
	}

	// A marker of another version (a release indexing other kinds) runs it.
	if err := e.Store.SetMeta(bg, apiserver.OwnedIndexMeta, "0:vpc"); err != nil {
		t.Fatal(err)
	}
	if n, ran, err := apiserver.EnsureOwnedIndex(bg, e.Store); err != nil || !ran || n != 1 {
		t.Fatalf("EnsureOwnedIndex with an old marker = %d, ran %v, %v; want 1, true", n, ran, err)
	}
}
