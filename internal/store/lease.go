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

// Lease holds keys that must vanish when their writer does: a node's or
// zone agent's liveness record and its reports. The lease is kept alive in
// the background (keepalives require a leader, so a member that lost
// quorum is noticed, not trusted). When the keepalive ends without an
// answer (etcd unreachable or without quorum for a TTL) or a write times
// out, the lease is not given up: the next Ensure asks etcd whether it
// still exists and resumes it, same ID and keys intact (etcd refreshes
// every lease when a new leader is elected, so a quorum loss does not
// expire them); only a lease etcd says is gone is granted anew, and the
// caller is told to write its keys again. Nothing is revoked on an error.
// A Lease is used by one goroutine.
type Lease struct {
	s   *Store
	ttl time.Duration

	id   clientv3.LeaseID
	stop context.CancelFunc // nil: no keepalive runs (none yet, or it ended)
	lost atomic.Bool        // set when the keepalive stream ends on its own
}

// NewLease returns a lease of ttl (rounded down to seconds, at least 1 s);
// nothing is granted until Ensure.
func (s *Store) NewLease(ttl time.Duration) *Lease { return &Lease{s: s, ttl: ttl} }

// ID is the current lease ID (0: none), as written in the keys it holds.
func (l *Lease) ID() int64 { return int64(l.id) }

// Ensure grants the lease if there is none, resumes it if its keepalive
// ended but etcd still has it, or grants a new one if etcd says it is
// gone; fresh is true when it was granted now, so every key written under
// the previous lease is gone. An error (etcd unreachable) keeps the lease
// for the next try.
func (l *Lease) Ensure(ctx context.Context) (fresh bool, err error) {
	if l.lost.Swap(false) {
		l.halt()
	}
	if l.id != 0 && l.stop != nil {
		return false, nil
	}
	if l.id != 0 {
		r, err := l.s.cli.TimeToLive(ctx, l.id)
		switch {
		case err == nil && r.TTL > 0:
			return false, l.keepAlive(ctx, l.id)
		case err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound):
			l.id = 0 // expired or revoked: grant anew below
		default:
			return false, fmt.Errorf("lease %x: ask etcd whether it still exists: %w", int64(l.id), err)
		}
	}
	g, err := l.s.cli.Grant(ctx, max(int64(l.ttl/time.Second), 1))
	if err != nil {
		return false, fmt.Errorf("grant lease: %w", err)
	}
	if err := l.keepAlive(ctx, g.ID); err != nil {
		return false, err
	}
	return true, nil
}

// keepAlive starts the background keepalive of id and makes it current.
func (l *Lease) keepAlive(ctx context.Context, id clientv3.LeaseID) error {
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ka, err := l.s.cli.KeepAlive(clientv3.WithRequireLeader(kctx), id)
	if err != nil {
		cancel()
		return fmt.Errorf("keepalive: %w", err)
	}
	go func() {
		for range ka {
		}
		if kctx.Err() == nil { // not stopped by us: no answer for a TTL, or the lease is gone
			l.lost.Store(true)
		}
	}()
	l.id, l.stop = id, cancel
	return nil
}

// halt stops the keepalive and keeps the ID: Ensure decides whether it
// resumes or is granted anew.
func (l *Lease) halt() {
	if l.stop != nil {
		l.stop()
		l.stop = nil
	}
}

// Write puts (value != nil, as JSON) and deletes (value == nil) keys under
// the lease, in transactions of at most 100 operations. An unknown lease
// is forgotten (the next Ensure grants a new one). A timeout leaves the
// keepalive running: it ends on its own if etcd is gone (the next Ensure
// then checks the lease), and halting it on a slow write would let the
// lease, and every key under it, expire while etcd still runs (seen with
// an etcd member shutting down: a zone withdrawn by a live agent).
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
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				l.halt()
				l.id = 0
			}
			return fmt.Errorf("write under lease: %w", err)
		}
		ops = ops[n:]
	}
	return nil
}

// Adopt makes id, a lease a predecessor process held (package handoff),
// this Lease's: the next Ensure resumes it if etcd still has it, keys
// intact, and grants a new one (fresh) if not.
func (l *Lease) Adopt(id int64) {
	l.halt()
	l.id = clientv3.LeaseID(id)
}

// Abandon stops the keepalive and forgets the lease without revoking it:
// a successor process keeps it alive from now on (package handoff).
func (l *Lease) Abandon() {
	l.halt()
	l.id = 0
}

// Drop stops the keepalive and revokes the lease (best effort), removing
// every key written under it: the writer is going away on purpose.
func (l *Lease) Drop() {
	if l.id == 0 {
		return
	}
	l.halt()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, _ = l.s.cli.Revoke(ctx, l.id)
	cancel()
	l.id = 0
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
