package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/model"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrCompacted is returned when a revision asked for is no longer in
// etcd's history.
var ErrCompacted = errors.New("revision compacted")

func padRev(rev int64) string { return fmt.Sprintf("%016d", rev) }

// FollowStates calls f with the State before and after every revision
// that changed a kind a State holds, in revision order, starting after
// from: unlike the Cache, nothing is coalesced, so every caller sees the
// same transitions. It returns when ctx ends, f fails, or the watch
// breaks (ErrCompacted when from is no longer in etcd's history).
func (s *Store) FollowStates(ctx context.Context, from int64, f func(prev, next *State) error) error {
	prev := newState()
	for kind := range kinds {
		r, err := s.cli.Get(ctx, s.KindPrefix(kind), clientv3.WithPrefix(), clientv3.WithRev(from))
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return fmt.Errorf("read state at %d: %w", from, ErrCompacted)
			}
			return fmt.Errorf("read state at %d: %w", from, err)
		}
		for _, kv := range r.Kvs {
			s.applyKV(prev, prev, string(kv.Key), kv.ModRevision, &kv.Value)
		}
	}
	prev.Rev = from
	prev.list = newChangeLog() // what each revision changed (TouchedEndpoints)
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.cli.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(from+1))
	for resp := range wch {
		if err := resp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return fmt.Errorf("watch from %d: %w", from, ErrCompacted)
			}
			return err
		}
		// A response may hold several revisions; f sees each one.
		for i := 0; i < len(resp.Events); {
			rev := resp.Events[i].Kv.ModRevision
			j := i
			for j < len(resp.Events) && resp.Events[j].Kv.ModRevision == rev {
				j++
			}
			next := prev.cloneKinds(touchedKinds(s.prefix, resp.Events[i:j]))
			var recs []string
			for ; i < len(resp.Events) && resp.Events[i].Kv.ModRevision == rev; i++ {
				ev := resp.Events[i]
				var value *[]byte
				if ev.Type != clientv3.EventTypeDelete {
					value = &ev.Kv.Value
				}
				rel := strings.TrimPrefix(string(ev.Kv.Key), s.prefix)
				k, id, _ := relKind(rel)
				if kinds[k] == nil {
					continue
				}
				recs = append(recs, RecordKey(k, id))
				s.applyKV(next, next, string(ev.Kv.Key), rev, value)
			}
			if recs == nil {
				continue
			}
			next.Rev = rev
			next.seq = next.list.add(next.seq, recs)
			if err := f(prev, next); err != nil {
				return err
			}
			prev = next
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("watch channel closed")
}

// EventsCursor returns the last revision turned into events; the first
// call in a store's life sets it to the current revision (events start now).
func (s *Store) EventsCursor(ctx context.Context) (int64, error) {
	r, err := s.cli.Get(ctx, s.EventsCursorKey())
	if err != nil {
		return 0, fmt.Errorf("read events cursor: %w", err)
	}
	if len(r.Kvs) == 0 {
		cur := r.Header.Revision
		if _, err := s.NewTxn().Claim(s.EventsCursorKey(), padRev(cur)).Commit(ctx); err != nil {
			return 0, err
		}
		return s.EventsCursor(ctx)
	}
	rev, err := strconv.ParseInt(string(r.Kvs[0].Value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("events cursor %q: %w", r.Kvs[0].Value, err)
	}
	return rev, nil
}

// SkipEvents moves the cursor forward to rev (after a compaction lost the
// revisions in between).
func (s *Store) SkipEvents(ctx context.Context, rev int64) error {
	k := s.EventsCursorKey()
	_, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(k), "<", padRev(rev))).
		Then(clientv3.OpPut(k, padRev(rev))).Commit()
	return err
}

// CommitEvents writes the events of revision rev and moves the cursor to
// rev, atomically and only if the cursor is still before rev: of several
// servers turning the same revision into events, exactly one writes them.
// ok is false when another server already did.
func (s *Store) CommitEvents(ctx context.Context, rev int64, evs []model.Event) (ok bool, err error) {
	k := s.EventsCursorKey()
	notDone := clientv3.Compare(clientv3.Value(k), "<", padRev(rev))
	cursor := clientv3.OpPut(k, padRev(rev))
	if len(evs) < eventsPerTxn {
		ops := []clientv3.Op{cursor}
		for _, e := range evs {
			ops = append(ops, clientv3.OpPut(s.EventKey(e.EventID), MustJSON(e)))
		}
		resp, err := s.cli.Txn(ctx).If(notDone).Then(ops...).Commit()
		if err != nil {
			return false, fmt.Errorf("commit events of revision %d: %w", rev, err)
		}
		return resp.Succeeded, nil
	}
	// More events than etcd takes operations in one transaction
	// (--max-txn-ops, 128 by default; a zone agent leaving with 10,000
	// endpoints makes 10,000 at one revision): the events go in chunks,
	// each created only if none of its keys exists (another server that
	// follows the same revisions makes the same events and chunks, so a
	// chunk it wrote first is skipped whole), then the cursor.
	for len(evs) > 0 {
		n := min(len(evs), eventsPerTxn)
		cmps := []clientv3.Cmp{notDone}
		var ops []clientv3.Op
		for _, e := range evs[:n] {
			key := s.EventKey(e.EventID)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
			ops = append(ops, clientv3.OpPut(key, MustJSON(e)))
		}
		if _, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit(); err != nil {
			return false, fmt.Errorf("commit events of revision %d: %w", rev, err)
		}
		evs = evs[n:]
	}
	resp, err := s.cli.Txn(ctx).If(notDone).Then(cursor).Commit()
	if err != nil {
		return false, fmt.Errorf("commit events cursor at revision %d: %w", rev, err)
	}
	return resp.Succeeded, nil
}

// eventsPerTxn is how many events CommitEvents writes in one etcd
// transaction, under etcd's default --max-txn-ops of 128.
const eventsPerTxn = 100

// PutEvent writes one event outside the controller's revision sequence
// (e.g. a notification disabled), create-if-absent.
func (s *Store) PutEvent(ctx context.Context, e model.Event) error {
	_, err := s.NewTxn().Create(s.EventKey(e.EventID), e).Commit(ctx)
	return err
}

// Revision is the store's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	r, err := s.cli.Get(ctx, s.EventsCursorKey(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return r.Header.Revision, nil
}

// ListEvents returns up to limit events with IDs after afterID ("" for
// the oldest), in ID order, and the store revision of the read.
func (s *Store) ListEvents(ctx context.Context, afterID string, limit int) ([]model.Event, int64, error) {
	from := s.KindPrefix(KindEvent)
	if afterID != "" {
		from = s.EventKey(afterID) + "\x00"
	}
	end := clientv3.GetPrefixRangeEnd(s.KindPrefix(KindEvent))
	opts := []clientv3.OpOption{clientv3.WithRange(end)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	r, err := s.cli.Get(ctx, from, opts...)
	if err != nil {
		return nil, 0, fmt.Errorf("list events: %w", err)
	}
	out := make([]model.Event, 0, len(r.Kvs))
	for _, kv := range r.Kvs {
		e, err := decode[model.Event](kv.Value)
		if err != nil {
			s.bad.report(s.prefix, string(kv.Key), kv.ModRevision, err)
			continue
		}
		out = append(out, *e)
	}
	return out, r.Header.Revision, nil
}

// WatchEvents calls f with every event after afterID, in ID order: those
// stored now, then each new one as it is written, until ctx ends or f
// fails. Events are written in ID order, so none is skipped or repeated.
func (s *Store) WatchEvents(ctx context.Context, afterID string, f func(model.Event) error) error {
	last := afterID
	var rev int64
	for {
		evs, r, err := s.ListEvents(ctx, last, 500)
		if err != nil {
			return err
		}
		rev = r
		for _, e := range evs {
			if err := f(e); err != nil {
				return err
			}
			last = e.EventID
		}
		if len(evs) < 500 {
			break
		}
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.cli.Watch(wctx, s.KindPrefix(KindEvent), clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithFilterDelete())
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return fmt.Errorf("watch events: %w", err)
		}
		batch := make([]model.Event, 0, len(resp.Events))
		for _, ev := range resp.Events {
			e, err := decode[model.Event](ev.Kv.Value)
			if err != nil {
				s.bad.report(s.prefix, string(ev.Kv.Key), ev.Kv.ModRevision, err)
				continue
			}
			batch = append(batch, *e)
		}
		sort.Slice(batch, func(i, j int) bool { return batch[i].EventID < batch[j].EventID })
		for _, e := range batch {
			if e.EventID <= last {
				continue
			}
			if err := f(e); err != nil {
				return err
			}
			last = e.EventID
		}
	}
	return ctx.Err()
}

// PruneEvents deletes the oldest events beyond keep and those older than
// maxAge, and returns how many it deleted.
func (s *Store) PruneEvents(ctx context.Context, keep int, maxAge time.Duration) (int, error) {
	prefix := s.KindPrefix(KindEvent)
	r, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	excess := int(r.Count) - keep
	cutoff := time.Now().Add(-maxAge)
	deleted := 0
	for {
		evs, _, err := s.ListEvents(ctx, "", 200)
		if err != nil || len(evs) == 0 {
			return deleted, err
		}
		var last string
		for _, e := range evs {
			t, _ := time.Parse(time.RFC3339Nano, e.EventTime)
			if excess-deleted <= 0 && !t.Before(cutoff) {
				break
			}
			last = e.EventID
			deleted++
		}
		if last == "" {
			return deleted, nil
		}
		if _, err := s.cli.Delete(ctx, prefix, clientv3.WithRange(s.EventKey(last)+"\x00")); err != nil {
			return deleted, fmt.Errorf("prune events: %w", err)
		}
		if last != evs[len(evs)-1].EventID {
			return deleted, nil
		}
	}
}

// LastEventID is the ID of the newest event ("" when there is none).
func (s *Store) LastEventID(ctx context.Context) (string, error) {
	r, err := s.cli.Get(ctx, s.KindPrefix(KindEvent), append(clientv3.WithLastKey(), clientv3.WithKeysOnly())...)
	if err != nil {
		return "", fmt.Errorf("last event: %w", err)
	}
	if len(r.Kvs) == 0 {
		return "", nil
	}
	k := string(r.Kvs[0].Key)
	return k[strings.LastIndexByte(k, '/')+1:], nil
}

// QuotaHitTTL is how long a quota hit lives: at most one QuotaExceeded
// event per account and quota code per this much time.
const QuotaHitTTL = 60 * time.Second

// RecordQuotaHit writes a quota hit under a QuotaHitTTL lease unless one
// for the same account and code is still alive.
func (s *Store) RecordQuotaHit(ctx context.Context, h model.QuotaHit) error {
	key := s.key(KindQuotaHit, h.AccountID, h.Code)
	if r, err := s.cli.Get(ctx, key, clientv3.WithCountOnly()); err != nil || r.Count > 0 {
		return err
	}
	lease, err := s.cli.Grant(ctx, int64(QuotaHitTTL/time.Second))
	if err != nil {
		return fmt.Errorf("quota hit lease: %w", err)
	}
	_, err = s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, MustJSON(h), clientv3.WithLease(lease.ID))).Commit()
	if err != nil {
		return fmt.Errorf("quota hit %s: %w", key, err)
	}
	return nil
}
