package store

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Records are decoded and validated once, here, at the edge of the store:
// a value that does not decode, or decodes to something its Validate
// method rejects, is a bad record. Readers skip bad records (Get returns
// an error for one), the Cache keeps the last good value for the key, and
// each bad record is logged once (per key and revision) and counted in
// privlink_store_bad_records_total{kind}.

// validator is implemented by the model types.
type validator interface{ Validate() error }

// decode turns a stored value into a T and validates it.
func decode[T any](value []byte) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(value, v); err != nil {
		return nil, err
	}
	if vv, ok := any(v).(validator); ok {
		if err := vv.Validate(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// badRecords logs and counts bad records once per key and revision.
type badRecords struct {
	log     *slog.Logger
	counter *prometheus.CounterVec

	mu     sync.Mutex
	logged map[string]int64 // key -> mod revision last reported
}

func newBadRecords(log *slog.Logger) *badRecords {
	return &badRecords{log: log, logged: map[string]int64{},
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "privlink_store_bad_records_total",
			Help: "Records in the store that did not decode or validate (skipped; the last good value is kept), by key kind.",
		}, []string{"kind"})}
}

// report records that key (at mod revision rev) is bad.
func (b *badRecords) report(prefix, key string, rev int64, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if last, ok := b.logged[key]; ok && last == rev {
		return
	}
	b.logged[key] = rev
	kind, _, _ := relKind(strings.TrimPrefix(key, prefix))
	b.counter.WithLabelValues(kind).Inc()
	b.log.Error("store: bad record skipped; keeping the last good value", "key", key, "rev", rev, "err", err)
}

// good forgets key (it decoded, or was deleted).
func (b *badRecords) good(key string) {
	b.mu.Lock()
	delete(b.logged, key)
	b.mu.Unlock()
}

// Metrics are the store's Prometheus collectors: bad records by kind,
// panics of reconcile loops (Cache.Loop) by loop, whether etcd refuses
// writes for NOSPACE, and commits that lost a race by operation.
func (s *Store) Metrics() []prometheus.Collector {
	return []prometheus.Collector{s.bad.counter, s.panics, s.nospace, s.conflicts}
}

func newPanicCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "privlink_reconcile_panics_total",
		Help: "Reconcile iterations that panicked (recovered; the loop carried on), by loop.",
	}, []string{"loop"})
}

func newConflictCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "privlink_store_conflicts_total",
		Help: "Optimistic commits (create, update) that lost a race with another change to the same records and were retried, by operation.",
	}, []string{"op"})
}

// Conflicts is how many commits of op ("create", "update") lost a race.
func (s *Store) Conflicts(op string) float64 {
	var m dto.Metric
	if err := s.conflicts.WithLabelValues(op).Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// errBadRecord wraps why a record was rejected.
func errBadRecord(key string, err error) error { return fmt.Errorf("bad record %s: %w", key, err) }
