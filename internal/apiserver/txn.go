package apiserver

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// plan is one create: the resource plus the extra compares and ops that must
// commit atomically with it.
type plan struct {
	id    string
	value any
	cmps  []clientv3.Cmp
	ops   []clientv3.Op
}

type created struct {
	id      string
	created bool
}

type idemRecord struct {
	ID   string `json:"id"`
	Hash string `json:"hash"`
}

// create runs build and commits its plan in one transaction, retrying when
// a concurrent change invalidated it. With a clientToken, a repeated request
// returns the resource the first one created.
func (a *API) create(r *http.Request, kind, clientToken string, req any, build func() (*plan, error)) (created, error) {
	ctx := r.Context()
	c := callerOf(r)
	var idemKey, hash string
	if clientToken != "" {
		if len(clientToken) > 64 {
			return created{}, model.Invalid("ClientToken", "clientToken must be at most 64 characters")
		}
		idemKey = a.st.Key(store.KindIdem, c.AccountID, kind, clientToken)
		hash = requestHash(req)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		backoff(attempt)
		if idemKey != "" {
			rec, _, err := store.Get[idemRecord](ctx, a.st, idemKey)
			if err == nil {
				if rec.Hash != hash {
					return created{}, model.Errorf(http.StatusBadRequest, "IdempotentParameterMismatch", "clientToken %q was already used with different parameters", clientToken)
				}
				return created{id: rec.ID}, nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return created{}, err
			}
		}
		p, err := build()
		if err != nil {
			return created{}, err
		}
		key := a.st.Key(kind, p.id)
		cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, p.cmps...)
		ops := append([]clientv3.Op{clientv3.OpPut(key, store.MustJSON(p.value))}, p.ops...)
		if idemKey != "" {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(idemKey), "=", 0))
			ops = append(ops, clientv3.OpPut(idemKey, store.MustJSON(idemRecord{ID: p.id, Hash: hash})),
				clientv3.OpPut(a.st.Key("idemrev", kind, p.id), idemKey)) // found again by deleteIf
		}
		resp, err := a.st.Client().Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return created{}, internal("commit %s: %w", kind, err)
		}
		if resp.Succeeded {
			return created{id: p.id, created: true}, nil
		}
	}
	return created{}, model.Errorf(http.StatusConflict, "Conflict.Concurrent", "too many concurrent changes to the same resources; retry")
}

// createThenGet creates (or with dryRun only validates, by building the
// plan) and returns the new resource as the caller sees it.
func createThenGet[T any](a *API, r *http.Request, kind, name, clientToken string, dryRunOnly bool, req any, build func() (*plan, error), owner func(T) string) (any, error) {
	if dryRunOnly {
		return dryRun(r, build)
	}
	res, err := a.create(r, kind, clientToken, req, build)
	if err != nil {
		return nil, err
	}
	v, _, err := getOwned(a, r, kind, name, res.id, owner)
	return v, err
}

// dryRun validates by building the plan and commits nothing.
func dryRun(r *http.Request, build func() (*plan, error)) (any, error) {
	if _, err := build(); err != nil {
		return nil, err
	}
	return dryRunOK(r), nil
}

// guard is extra compares and ops that commit atomically with an update.
type guard struct {
	cmps []clientv3.Cmp
	ops  []clientv3.Op
}

// update applies mutate to the current value under CAS, retrying on conflict.
// mutate may return a guard to commit with it.
func update[T any](a *API, r *http.Request, key string, mutate func(v *T) (guard, error)) (T, error) {
	ctx := r.Context()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		backoff(attempt)
		v, rev, err := store.Get[T](ctx, a.st, key)
		if err != nil {
			return v, err
		}
		g, err := mutate(&v)
		if err != nil {
			return v, err
		}
		ops := append([]clientv3.Op{clientv3.OpPut(key, store.MustJSON(v))}, g.ops...)
		cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, g.cmps...)
		resp, err := a.st.Client().Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return v, internal("update %s: %w", key, err)
		}
		if resp.Succeeded {
			return v, nil
		}
	}
	var zero T
	return zero, model.Errorf(http.StatusConflict, "Conflict.Concurrent", "too many concurrent changes; retry")
}

// maxAttempts bounds optimistic retries; with backoff they span about 2s.
const maxAttempts = 30

// backoff sleeps a random, growing time before a retry (not before the first try).
func backoff(attempt int) {
	if attempt > 0 {
		time.Sleep(time.Duration(mrand.Int64N(int64(min(attempt, 10)) * int64(15*time.Millisecond))))
	}
}

// exists is a compare that the resource still exists at commit time.
func (a *API) exists(kind, id string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(a.st.Key(kind, id)), ">", 0)
}

// noneUnder is a compare that no key exists under prefix at commit time.
func noneUnder(prefix string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(prefix), "=", 0).WithPrefix()
}

// touch returns a compare-and-rewrite pair on a parent record, so that
// changes to its children serialize with each other and with its deletion.
func touch(key string, rev int64, v any) (clientv3.Cmp, clientv3.Op) {
	return clientv3.Compare(clientv3.ModRevision(key), "=", rev), clientv3.OpPut(key, store.MustJSON(v))
}

func requestHash(req any) string {
	v := reflect.ValueOf(req)
	if v.Kind() == reflect.Struct {
		cp := reflect.New(v.Type()).Elem()
		cp.Set(v)
		for _, f := range []string{"ClientToken", "DryRun"} {
			if fv := cp.FieldByName(f); fv.IsValid() && fv.CanSet() {
				fv.Set(reflect.Zero(fv.Type()))
			}
		}
		req = cp.Interface()
	}
	b, _ := json.Marshal(req)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// paginate sorts by key and applies maxResults (1-100, default 50) and nextToken.
func paginate[T any](r *http.Request, items []T, key func(T) string) (api.List[T], error) {
	q := r.URL.Query()
	max := 50
	if s := q.Get("maxResults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return api.List[T]{}, model.Invalid("MaxResults", "maxResults must be an integer between 1 and 100")
		}
		max = n
	}
	sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	start := 0
	if tok := q.Get("nextToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return api.List[T]{}, model.Invalid("NextToken", "nextToken is not one this API returned")
		}
		after := string(b)
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
	}
	out := api.List[T]{Items: items[start:], TotalCount: len(items)}
	if len(out.Items) > max {
		out.Items = out.Items[:max]
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(key(out.Items[max-1])))
	}
	if out.Items == nil {
		out.Items = []T{}
	}
	return out, nil
}

// getOwned reads a resource and hides other accounts' resources as 404.
func getOwned[T any](a *API, r *http.Request, kindKey, kindName, id string, owner func(T) string) (T, int64, error) {
	v, rev, err := store.Get[T](r.Context(), a.st, a.st.Key(kindKey, id))
	if errors.Is(err, store.ErrNotFound) || (err == nil && owner(v) != callerOf(r).AccountID) {
		var zero T
		return zero, 0, model.NotFound(kindName, id)
	}
	return v, rev, err
}

// listOwned lists a kind filtered to the caller's account and an optional predicate.
func listOwned[T any](a *API, r *http.Request, kindKey string, owner func(T) string, keep func(T) bool) ([]T, error) {
	all, _, err := store.List[T](r.Context(), a.st, a.st.Key(kindKey))
	if err != nil {
		return nil, err
	}
	me := callerOf(r).AccountID
	out := all[:0]
	for _, v := range all {
		if owner(v) == me && (keep == nil || keep(v)) {
			out = append(out, v)
		}
	}
	return out, nil
}
