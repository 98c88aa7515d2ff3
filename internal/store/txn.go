package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Txn collects compares and writes that commit atomically: every compare
// must hold at commit time or nothing is written. Build one with
// Store.NewTxn, add to it, Commit it once.
type Txn struct {
	s    *Store
	cmps []clientv3.Cmp
	ops  []clientv3.Op
}

// NewTxn starts an empty transaction.
func (s *Store) NewTxn() *Txn { return &Txn{s: s} }

// Create writes v (JSON) at key only if the key does not exist.
func (t *Txn) Create(key string, v any) *Txn {
	return t.Claim(key, MustJSON(v))
}

// Claim writes a raw value at key only if the key does not exist (IPAM
// allocations: the key's existence is the claim).
func (t *Txn) Claim(key, value string) *Txn {
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
	t.ops = append(t.ops, clientv3.OpPut(key, value))
	return t
}

// Put writes v (JSON) at key unconditionally.
func (t *Txn) Put(key string, v any) *Txn {
	t.ops = append(t.ops, clientv3.OpPut(key, MustJSON(v)))
	return t
}

// Index writes an empty index key.
func (t *Txn) Index(key string) *Txn {
	t.ops = append(t.ops, clientv3.OpPut(key, ""))
	return t
}

// Unchanged guards the transaction on key still being at mod revision rev
// (compare-and-swap; rev 0 means "must not exist").
func (t *Txn) Unchanged(key string, rev int64) *Txn {
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.ModRevision(key), "=", rev))
	return t
}

// Touch guards on a parent record's revision and rewrites it unchanged, so
// that changes to its children serialize with each other and with the
// parent's deletion.
func (t *Txn) Touch(key string, rev int64, v any) *Txn {
	return t.Unchanged(key, rev).Put(key, v)
}

// Exists guards on key existing at commit time.
func (t *Txn) Exists(key string) *Txn {
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(key), ">", 0))
	return t
}

// NoneUnder guards on no key existing under prefix at commit time.
func (t *Txn) NoneUnder(prefix string) *Txn {
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(prefix), "=", 0).WithPrefix())
	return t
}

// NoneCreatedAfter guards on no key under prefix having been created after
// revision rev (a read at rev saw every key there is).
func (t *Txn) NoneCreatedAfter(prefix string, rev int64) *Txn {
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.CreateRevision(prefix), "<", rev+1).WithPrefix())
	return t
}

// Delete removes key.
func (t *Txn) Delete(key string) *Txn {
	t.ops = append(t.ops, clientv3.OpDelete(key))
	return t
}

// Commit runs the transaction; ok is false when a compare failed (nothing
// was written).
func (t *Txn) Commit(ctx context.Context) (ok bool, err error) {
	resp, err := t.s.cli.Txn(ctx).If(t.cmps...).Then(t.ops...).Commit()
	t.s.wrote(err)
	if err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return resp.Succeeded, nil
}

// CommitRev is Commit returning the store revision the transaction wrote
// (0 when a compare failed and nothing was written).
func (t *Txn) CommitRev(ctx context.Context) (int64, error) {
	resp, err := t.s.cli.Txn(ctx).If(t.cmps...).Then(t.ops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	if !resp.Succeeded {
		return 0, nil
	}
	return resp.Header.Revision, nil
}
