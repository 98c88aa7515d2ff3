package store

import (
	"context"
	"fmt"
)

// MetaKey is the key of a meta record: meta/<name> (small values about
// the store itself, such as the account index marker).
func (s *Store) MetaKey(name string) string { return s.key(KindMeta, name) }

// Meta reads the meta record name; ok is false when it is absent.
func (s *Store) Meta(ctx context.Context, name string) (value string, ok bool, err error) {
	resp, err := s.cli.Get(ctx, s.MetaKey(name))
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", s.MetaKey(name), err)
	}
	if len(resp.Kvs) == 0 {
		return "", false, nil
	}
	return string(resp.Kvs[0].Value), true, nil
}

// SetMeta writes the meta record name.
func (s *Store) SetMeta(ctx context.Context, name, value string) error {
	if _, err := s.cli.Put(ctx, s.MetaKey(name), value); err != nil {
		return fmt.Errorf("write %s: %w", s.MetaKey(name), err)
	}
	return nil
}
