package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Raw access, for tests and diagnostics only: privlink itself writes
// through Txn, Create, Update, Delete and Lease.

// Dump returns every key under the prefix with its raw value.
func (s *Store) Dump(ctx context.Context) (map[string]string, error) {
	r, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("dump: %w", err)
	}
	out := make(map[string]string, len(r.Kvs))
	for _, kv := range r.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out, nil
}

// PutRaw writes value at key as it is, bypassing validation (a test's way
// of corrupting the store).
func (s *Store) PutRaw(ctx context.Context, key, value string) error {
	if _, err := s.cli.Put(ctx, key, value); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}
