package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privlink/privlink/internal/model"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Cache keeps a State current with list+watch: list everything, then watch
// from the list's revision; on compaction or a broken watch it relists.
// It reports Synced after the first full list, and notifies subscribers
// (coalesced) after each change. When etcd is unreachable the last State
// stays available (static stability).
type Cache struct {
	s     *Store
	log   *slog.Logger
	state atomic.Pointer[State]

	mu      sync.Mutex
	subs    []chan struct{}
	synced  chan struct{}
	syncOne sync.Once
}

// NewCache returns a cache over the store; call Run to fill it.
func NewCache(s *Store, log *slog.Logger) *Cache {
	c := &Cache{s: s, log: log, synced: make(chan struct{})}
	c.state.Store(newState())
	return c
}

// State returns the current snapshot (empty before the first sync).
func (c *Cache) State() *State { return c.state.Load() }

// Synced is closed after the first full list.
func (c *Cache) Synced() <-chan struct{} { return c.synced }

// IsSynced reports whether the first list completed.
func (c *Cache) IsSynced() bool {
	select {
	case <-c.synced:
		return true
	default:
		return false
	}
}

// Subscribe returns a channel that receives (coalesced) after each change.
func (c *Cache) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.subs = append(c.subs, ch)
	c.mu.Unlock()
	return ch
}

func (c *Cache) notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Run lists and watches until ctx ends.
func (c *Cache) Run(ctx context.Context) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := c.listWatch(ctx)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("store watch interrupted, relisting", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (c *Cache) listWatch(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	st, err := c.s.readState(lctx, c.state.Load())
	cancel()
	if err != nil {
		return err
	}
	rev := st.Rev
	st.list = newChangeLog()
	c.state.Store(st)
	c.syncOne.Do(func() { close(c.synced) })
	c.notify()

	return c.watchFrom(ctx, rev)
}

// watchFrom applies every change after rev until the watch breaks; a
// compacted rev fails with "watch compacted" and the caller relists.
func (c *Cache) watchFrom(ctx context.Context, rev int64) error {
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	wch := c.s.cli.Watch(wctx, c.s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
	for resp := range wch {
		if err := resp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return errors.New("watch compacted")
			}
			return err
		}
		if len(resp.Events) == 0 {
			continue
		}
		touched := touchedKinds(c.s.prefix, resp.Events)
		if len(touched) == 0 {
			continue // ipam, idem, token keys: nothing a State holds
		}
		next := c.state.Load().cloneKinds(touched)
		recs := make([]string, 0, len(resp.Events))
		for _, ev := range resp.Events {
			var value *[]byte
			if ev.Type != clientv3.EventTypeDelete {
				value = &ev.Kv.Value
			}
			c.s.applyKV(next, next, string(ev.Kv.Key), ev.Kv.ModRevision, value)
			if kind, id, _ := relKind(strings.TrimPrefix(string(ev.Kv.Key), c.s.prefix)); kinds[kind] != nil {
				recs = append(recs, RecordKey(kind, id))
			}
		}
		next.Rev = resp.Header.Revision
		next.seq = next.list.add(next.seq, recs)
		c.state.Store(next)
		c.notify()
	}
	return errors.New("watch channel closed")
}

// touchedKinds are the kinds of State records that evs change.
func touchedKinds(prefix string, evs []*clientv3.Event) map[string]bool {
	var touched map[string]bool
	for _, ev := range evs {
		kind, _, _ := relKind(strings.TrimPrefix(string(ev.Kv.Key), prefix))
		if kinds[kind] != nil {
			if touched == nil {
				touched = map[string]bool{}
			}
			touched[kind] = true
		}
	}
	return touched
}

// ReadState reads a State at one revision: the given kinds, or every kind
// a State holds when none is given.
func (s *Store) ReadState(ctx context.Context, only ...string) (*State, error) {
	return s.readState(ctx, newState(), only...)
}

// Reread reads the whole State afresh, keeping the last good value of
// every record that is bad now.
func (c *Cache) Reread(ctx context.Context) (*State, error) {
	return c.s.readState(ctx, c.State())
}

// readState reads a State at one revision; a bad record keeps its value
// from prev.
func (s *Store) readState(ctx context.Context, prev *State, only ...string) (*State, error) {
	st := newState()
	var want []string
	for kind := range kinds {
		if len(only) == 0 || slices.Contains(only, kind) {
			want = append(want, kind)
		}
	}
	if len(want) == 0 {
		return st, nil
	}
	// The first kind's read fixes the revision; the others read at it all
	// at once, each decoded by its own goroutine straight into its kind's
	// map (no other goroutine touches it) with its own set of bad keys,
	// merged at the end. At start the agents wait for this read: at 10,000
	// endpoints decoding the endpoints, reports and placements one kind
	// after another kept one core busy and left the other idle.
	bads := make([]map[string]bool, len(want))
	errs := make([]error, len(want))
	read := func(i int) {
		r, err := s.cli.Get(ctx, s.KindPrefix(want[i]), clientv3.WithPrefix(), clientv3.WithRev(st.Rev))
		if err != nil {
			errs[i] = fmt.Errorf("list %s: %w", want[i], err)
			return
		}
		if st.Rev == 0 { // the first read, alone
			st.Rev = r.Header.Revision
		}
		view := *st // shares every map with st but bad
		view.bad = map[string]bool{}
		for _, kv := range r.Kvs {
			s.applyKV(&view, prev, string(kv.Key), kv.ModRevision, &kv.Value)
		}
		bads[i] = view.bad
	}
	read(0)
	var wg sync.WaitGroup
	for i := 1; i < len(want) && errs[0] == nil; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); read(i) }()
	}
	wg.Wait()
	for i := range want {
		if errs[i] != nil {
			return nil, errs[i]
		}
		maps.Copy(st.bad, bads[i])
	}
	return st, nil
}

// applyKV applies one key (value nil: deleted) to next and reports it
// when it is bad.
func (s *Store) applyKV(next, prev *State, key string, rev int64, value *[]byte) {
	rel := strings.TrimPrefix(key, s.prefix)
	if err := next.apply(prev, rel, value); err != nil {
		s.bad.report(s.prefix, key, rev, err)
		return
	}
	next.stampEpoch(rel, rev)
	s.bad.good(key)
}

// ReadZoneStatus reads, in one request, what the zone status of one
// endpoint depends on: the zone agents' liveness records and their reports
// on this endpoint, the nodes' liveness records and the endpoint's ENI
// placements (State.ZoneStatus works on the result).
func (s *Store) ReadZoneStatus(ctx context.Context, ep *model.Endpoint) (*State, error) {
	ops := []clientv3.Op{clientv3.OpGet(s.KindPrefix(KindAgent), clientv3.WithPrefix()),
		clientv3.OpGet(s.KindPrefix(KindNode), clientv3.WithPrefix())}
	for _, z := range ep.Zones {
		ops = append(ops, clientv3.OpGet(s.ReportKey(z.ZoneID, ep.EndpointID)),
			clientv3.OpGet(s.ENIPlacementKey(ep.EndpointID, z.ZoneID)))
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("read zone status of %s: %w", ep.EndpointID, err)
	}
	st := newState()
	st.Rev = resp.Header.Revision
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			s.applyKV(st, st, string(kv.Key), kv.ModRevision, &kv.Value)
		}
	}
	return st, nil
}
