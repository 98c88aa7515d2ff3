package store

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The write protocol: every change is read, plan, commit-if-unchanged,
// retried with a random growing backoff when something changed underneath.
// A failed or rejected change writes nothing.

// ErrConflict is returned when a change lost the race maxAttempts times in a
// row (or, for Delete, once: the caller read a revision that is gone).
var ErrConflict = errors.New("store: concurrent changes to the same records")

// ErrIdempotencyMismatch is returned by Create when the clientToken was
// used before with a request whose hash differs.
var ErrIdempotencyMismatch = errors.New("store: clientToken reused with different parameters")

// maxAttempts bounds optimistic retries; with backoff they span about 2s.
const maxAttempts = 30

// backoff sleeps a random, growing time before a retry (not before the first try).
func backoff(attempt int) {
	if attempt > 0 {
		time.Sleep(time.Duration(mrand.Int64N(int64(min(attempt, 10)) * int64(15*time.Millisecond))))
	}
}

// Retry runs attempt until it returns anything but ErrConflict, with the
// same bounded backoff as Create and Update: for read-plan-commit
// sequences such as a delete, where a record changing underneath (a
// controller's status write) means "plan again", not "fail".
func Retry(ctx context.Context, attempt func() error) error {
	err := ErrConflict
	for i := 0; i < maxAttempts && errors.Is(err, ErrConflict); i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		backoff(i)
		err = attempt()
	}
	return err
}

// Idem makes a create idempotent: the same account, kind and token return
// the resource the first request created. Hash identifies the request's
// parameters. The zero Idem (no token) disables it.
type Idem struct {
	Account, Token, Hash string
}

type idemRecord struct {
	ID   string `json:"id"`
	Hash string `json:"hash"`
}

// Create commits a new record of kind. build is called once per attempt
// with a fresh Txn to add guards, claims and index keys to, and returns the
// new record's ID and value; the record is created only if its key is
// absent. created is false when an earlier request with the same clientToken
// created the resource (its ID is returned).
func (s *Store) Create(ctx context.Context, kind string, idem Idem, build func(t *Txn) (id string, v any, err error)) (id string, created bool, err error) {
	var idemKey string
	if idem.Token != "" {
		idemKey = s.idemKey(idem.Account, kind, idem.Token)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		backoff(attempt)
		if idemKey != "" {
			rec, _, err := Get[idemRecord](ctx, s, idemKey)
			if err == nil {
				if rec.Hash != idem.Hash {
					return "", false, ErrIdempotencyMismatch
				}
				return rec.ID, false, nil
			}
			if !errors.Is(err, ErrNotFound) {
				return "", false, err
			}
		}
		t := s.NewTxn()
		id, v, err := build(t)
		if err != nil {
			return "", false, err
		}
		t.Create(s.ResourceKey(kind, id), v)
		if idemKey != "" {
			t.Create(idemKey, idemRecord{ID: id, Hash: idem.Hash})
			t.Claim(s.idemRevKey(kind, id), idemKey)
		}
		ok, err := t.Commit(ctx)
		if err != nil {
			return "", false, fmt.Errorf("create %s: %w", kind, err)
		}
		if ok {
			return id, true, nil
		}
		s.conflicts.WithLabelValues("create").Inc()
	}
	return "", false, ErrConflict
}

// Update applies mutate to the current value at key under compare-and-swap,
// retrying on conflict. mutate may add guards and writes to t; they commit
// with the update. It returns ErrNotFound when the key does not exist.
func Update[T any](ctx context.Context, s *Store, key string, mutate func(v *T, t *Txn) error) (T, error) {
	var zero T
	for attempt := 0; attempt < maxAttempts; attempt++ {
		backoff(attempt)
		v, rev, err := Get[T](ctx, s, key)
		if err != nil {
			return zero, err
		}
		t := s.NewTxn()
		if err := mutate(&v, t); err != nil {
			return zero, err
		}
		t.Unchanged(key, rev).Put(key, v)
		ok, err := t.Commit(ctx)
		if err != nil {
			return zero, fmt.Errorf("update %s: %w", key, err)
		}
		if ok {
			return v, nil
		}
		s.conflicts.WithLabelValues("update").Inc()
	}
	return zero, ErrConflict
}

// Delete removes the record of kind id if it is still at revision rev and
// t's guards hold, together with t's writes and the record's clientToken
// (so the token may create a new resource later). A lost race is
// ErrConflict: the caller decided on a state that is gone.
func (s *Store) Delete(ctx context.Context, kind, id string, rev int64, t *Txn) error {
	key := s.ResourceKey(kind, id)
	t.Unchanged(key, rev).Delete(key)
	revKey := s.idemRevKey(kind, id)
	resp, err := s.cli.Get(ctx, revKey)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if len(resp.Kvs) == 1 {
		t.Delete(revKey).Delete(string(resp.Kvs[0].Value))
	}
	ok, err := t.Commit(ctx)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if !ok {
		return ErrConflict
	}
	return nil
}

// Count returns how many keys exist under prefix.
func (s *Store) Count(ctx context.Context, prefix string) (int64, error) {
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", prefix, err)
	}
	return resp.Count, nil
}

// CountAt returns how many keys exist under prefix and the store's
// revision at the read: guard a create that the count allows with
// Txn.NoneCreatedAfter(prefix, rev), so two cannot both take the last slot.
func (s *Store) CountAt(ctx context.Context, prefix string) (n, rev int64, err error) {
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, 0, fmt.Errorf("count %s: %w", prefix, err)
	}
	return resp.Count, resp.Header.Revision, nil
}

// KeySet returns every full key under prefix.
func (s *Store) KeySet(ctx context.Context, prefix string) (map[string]bool, error) {
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("list keys %s: %w", prefix, err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = true
	}
	return out, nil
}

// Keys returns the last path element of every key under prefix.
func (s *Store) Keys(ctx context.Context, prefix string) ([]string, error) {
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("list keys %s: %w", prefix, err)
	}
	out := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		out = append(out, k[strings.LastIndexByte(k, '/')+1:])
	}
	return out, nil
}
