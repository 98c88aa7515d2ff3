package apiserver

import (
	"context"
	"strings"

	"github.com/privlink/privlink/internal/store"
)

// ownedKinds are the kinds indexed by account (own/<account>/<kind>/<id>).
var ownedKinds = []string{store.KindVPC, store.KindVSwitch, store.KindSG, store.KindHost, store.KindService, store.KindEndpoint}

// ownedIndexMeta names the meta record that says the account index is
// complete; its value is ownedIndexVersion, so that a release that indexes
// more kinds runs the pass again.
const ownedIndexMeta = "owned-index"

// ownedIndexVersion is the marker's value: version 1 of the index over
// ownedKinds. Every API write that creates a resource of these kinds
// writes its index key in the same transaction, so once a pass has
// completed the index stays complete.
var ownedIndexVersion = "1:" + strings.Join(ownedKinds, ",")

// indexPassHook runs before each kind of the pass (tests stop a pass
// part-way with it).
var indexPassHook = func(kind string) error { return nil }

// EnsureOwnedIndex runs IndexOwned unless the marker says a pass of this
// version has completed: a restart then reads one key instead of every
// resource. ran says whether the pass ran; n is what IndexOwned added.
func EnsureOwnedIndex(ctx context.Context, st *store.Store) (n int, ran bool, err error) {
	v, ok, err := st.Meta(ctx, ownedIndexMeta)
	if err != nil {
		return 0, false, err
	}
	if ok && v == ownedIndexVersion {
		return 0, false, nil
	}
	n, err = IndexOwned(ctx, st)
	return n, true, err
}
