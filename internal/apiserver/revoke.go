package apiserver

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Changes that rewrite every endpoint of a service or of an account in
// it (an allow-list removal, a service deletion) are done in transactions
// of at most txnBatch endpoints, because etcd refuses a transaction of
// more than --max-txn-ops compares or writes (128 by default, and an
// external cluster may keep it). The first transaction makes the change
// that matters (the allow-list without the account, the service gone)
// with the first batch; later ones finish the job, each guarded by the
// revisions it read. A crash between batches leaves endpoints that the
// status controller (internal/controller) finishes: one whose account the
// service no longer admits is disconnected, one whose service is gone
// turns ServiceDeleted. Meanwhile agents and the resolver already refuse
// to serve both (model.Carries).

// txnBatch is how many endpoints one transaction rewrites (a compare and a
// put each), leaving room under etcd's default 128 for the other records.
const txnBatch = 100

// batchAttempts bounds the retries of a batch that lost a race.
const batchAttempts = 30

// revoked reports whether ep is an endpoint of acct on svcID that a
// removal of acct from the allow-list has yet to disconnect.
func revoked(ep *model.Endpoint, svcID, acct string) bool {
	return ep.ServiceID == svcID && ep.AccountID == acct && ep.ConnectionStatus != model.ConnDisconnected
}

// disconnectFirst adds to the allow-list change's transaction t the first
// batch of the account's endpoints to disconnect, each guarded by its
// revision, and a guard on the service's endpoint index: an endpoint
// created after the list (racing the removal) fails the transaction.
func (a *API) disconnectFirst(r *http.Request, t *store.Txn, svcID, acct string) error {
	eps, rev, err := store.ListRecords[model.Endpoint](r.Context(), a.st, a.st.KindPrefix(store.KindEndpoint))
	if err != nil {
		return err
	}
	t.NoneCreatedAfter(a.st.ServiceEndpointsPrefix(svcID), rev)
	n := 0
	for _, e := range eps {
		if ep := e.Value; revoked(&ep, svcID, acct) && n < txnBatch {
			ep.ConnectionStatus = model.ConnDisconnected
			t.Touch(e.Key, e.Rev, ep)
			n++
		}
	}
	return nil
}

// disconnectRest disconnects the account's endpoints the first batch did
// not, a batch per transaction guarded by the service's revision (still
// not admitting the account) and each endpoint's. If the account was
// allowed again meanwhile, that later change wins and the rest is left.
func (a *API) disconnectRest(r *http.Request, svcID, acct string) error {
	return a.batches(r, func(t *store.Txn) (int, error) {
		svcKey := a.st.ResourceKey(store.KindService, svcID)
		svc, srev, err := store.Get[model.EndpointService](r.Context(), a.st, svcKey)
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil
		}
		if err != nil || svc.Admits(acct) {
			return 0, err
		}
		t.Unchanged(svcKey, srev)
		return a.markEndpoints(r, t, func(ep *model.Endpoint) bool { return revoked(ep, svcID, acct) }, model.ConnDisconnected)
	})
}

// markServiceDeleted turns the endpoints of a deleted service that the
// delete's first batch did not mark ServiceDeleted, a batch per
// transaction, each guarded by the service still being absent.
func (a *API) markServiceDeleted(r *http.Request, svcID string) error {
	return a.batches(r, func(t *store.Txn) (int, error) {
		t.Unchanged(a.st.ResourceKey(store.KindService, svcID), 0)
		return a.markEndpoints(r, t, func(ep *model.Endpoint) bool {
			return ep.ServiceID == svcID && ep.ConnectionStatus != model.ConnServiceDeleted
		}, model.ConnServiceDeleted)
	})
}

// markEndpoints sets the connection status of up to txnBatch endpoints
// that match, each guarded by its revision, and says how many.
func (a *API) markEndpoints(r *http.Request, t *store.Txn, match func(*model.Endpoint) bool, to string) (int, error) {
	eps, _, err := store.ListRecords[model.Endpoint](r.Context(), a.st, a.st.KindPrefix(store.KindEndpoint))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range eps {
		if ep := e.Value; match(&ep) && n < txnBatch {
			ep.ConnectionStatus = to
			t.Touch(e.Key, e.Rev, ep)
			n++
		}
	}
	return n, nil
}

// batches commits the transactions plan builds until one has nothing to
// do; a batch that lost a race is planned again, with backoff.
func (a *API) batches(r *http.Request, plan func(t *store.Txn) (int, error)) error {
	for attempt := 0; attempt < batchAttempts; {
		t := a.st.NewTxn()
		n, err := plan(t)
		if err != nil || n == 0 {
			return err
		}
		ok, err := t.Commit(r.Context())
		if err != nil {
			return err
		}
		if !ok {
			attempt++
			time.Sleep(time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(15*time.Millisecond))))
		}
	}
	return storeErr(store.ErrConflict, "")
}
