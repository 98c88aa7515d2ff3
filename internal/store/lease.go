package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Lease holds keys that must vanish when their writer does: a zone agent's
// liveness record and its reports. The lease is kept alive in the
// background; when it is lost (etcd unreachable longer than the TTL, or
// revoked), the next Ensure grants a new one and tells the caller to write
// its keys again. A Lease is used by one goroutine.
type Lease struct {
	s   *Store
	ttl time.Duration

	id   clientv3.LeaseID
	stop context.CancelFunc
	lost atomic.Bool // set when the keepalive stream ends on its own
}

// NewLease returns a lease of ttl (rounded down to seconds, at least 1 s);
// nothing is granted until Ensure.
func (s *Store) NewLease(ttl time.Duration) *Lease { return &Lease{s: s, ttl: ttl} }

// Ensure grants the lease if there is none (or it was lost) and keeps it
// alive; fresh is true when it was granted now, so every key written under
// the previous lease is gone.
func (l *Lease) Ensure(ctx context.Context) (fresh bool, err error) {
	if l.lost.Swap(false) {
		l.Drop()
	}
	if l.id != 0 {
		return false, nil
	}
	g, err := l.s.cli.Grant(ctx, max(int64(l.ttl/time.Second), 1))
	if err != nil {
		return false, fmt.Errorf("grant lease: %w", err)
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ka, err := l.s.cli.KeepAlive(kctx, g.ID)
	if err != nil {
		cancel()
		return false, fmt.Errorf("keepalive: %w", err)
	}
	go func() {
		for range ka {
		}
		if kctx.Err() == nil { // not dropped by us: the lease is gone
			l.lost.Store(true)
		}
	}()
	l.id, l.stop = g.ID, cancel
	return true, nil
}

// Write puts (value != nil, as JSON) and deletes (value == nil) keys under
// the lease, in transactions of at most 100 operations. A timeout or an
// unknown lease drops the lease, so the next Ensure starts afresh.
func (l *Lease) Write(ctx context.Context, kv map[string]any) error {
	if l.id == 0 {
		return errors.New("write under lease: no lease (call Ensure)")
	}
	ops := make([]clientv3.Op, 0, len(kv))
	for k, v := range kv {
		if v == nil {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, MustJSON(v), clientv3.WithLease(l.id)))
		}
	}
	for len(ops) > 0 {
		n := min(len(ops), 100)
		_, err := l.s.cli.Txn(ctx).Then(ops[:n]...).Commit()
		l.s.wrote(err)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrLeaseNotFound) {
				l.Drop()
			}
			return fmt.Errorf("write under lease: %w", err)
		}
		ops = ops[n:]
	}
	return nil
}

// Drop stops the keepalive and revokes the lease (best effort), removing
// every key written under it.
func (l *Lease) Drop() {
	if l.id == 0 {
		return
	}
	l.stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, _ = l.s.cli.Revoke(ctx, l.id)
	cancel()
	l.id, l.stop = 0, nil
}

// LeaseOf returns the lease ID a key is held under (0: none), for tests
// and diagnostics.
func (s *Store) LeaseOf(ctx context.Context, key string) (int64, error) {
	r, err := s.cli.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	if len(r.Kvs) == 0 {
		return 0, ErrNotFound
	}
	return r.Kvs[0].Lease, nil
}

// RevokeLease revokes a lease by ID (as a lost lease would end), for tests.
func (s *Store) RevokeLease(ctx context.Context, id int64) error {
	_, err := s.cli.Revoke(ctx, clientv3.LeaseID(id))
	return err
}
