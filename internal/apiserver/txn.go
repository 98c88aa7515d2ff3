package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// The API's side of the store's write protocol (store.Create, store.Update,
// store.Delete): handlers build a store.Txn of guards and writes; this file
// adds idempotency and dry runs and turns the store's protocol errors into
// API errors.

// build adds a new resource's guards and writes to t and returns its ID and
// record; it is called again on every retry.
type build func(t *store.Txn) (id string, v any, err error)

// storeErr maps the store's protocol errors to API errors.
func storeErr(err error, clientToken string) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return model.Errorf(http.StatusConflict, "Conflict.Concurrent", "too many concurrent changes to the same resources; retry")
	case errors.Is(err, store.ErrIdempotencyMismatch):
		return model.Errorf(http.StatusBadRequest, "IdempotentParameterMismatch", "clientToken %q was already used with different parameters", clientToken)
	}
	return err
}

// create commits b's resource of kind. With a clientToken, a repeated
// request returns the resource the first one created (created false).
func (a *API) create(r *http.Request, kind, clientToken string, req any, b build) (id string, created bool, err error) {
	var idem store.Idem
	if clientToken != "" {
		if len(clientToken) > 64 {
			return "", false, model.Invalid("ClientToken", "clientToken must be at most 64 characters")
		}
		idem = store.Idem{Account: callerOf(r).AccountID, Token: clientToken, Hash: requestHash(req)}
	}
	id, created, err = a.st.Create(r.Context(), kind, idem, func(t *store.Txn) (string, any, error) {
		id, v, err := b(t)
		if err == nil {
			err = a.indexOwned(r, t, kind, id, v)
		}
		return id, v, err
	})
	return id, created, storeErr(err, clientToken)
}

// createThenGet creates (or with dryRun only validates, by building the
// plan) and returns the new resource as its owner sees it.
func createThenGet[T owned](a *API, r *http.Request, kind, clientToken string, dryRunOnly bool, req any, b build) (any, error) {
	if dryRunOnly {
		return dryRun(a, r, kind, b)
	}
	id, _, err := a.create(r, kind, clientToken, req, b)
	if err != nil {
		return nil, err
	}
	v, _, err := getOwned[T](a, r, kind, id)
	return v, err
}

// dryRun validates by building the plan and commits nothing.
func dryRun(a *API, r *http.Request, kind string, b build) (any, error) {
	t := a.st.NewTxn()
	id, v, err := b(t)
	if err != nil {
		return nil, err
	}
	if err := a.indexOwned(r, t, kind, id, v); err != nil {
		return nil, err
	}
	return dryRunOK(r), nil
}

// update applies mutate to the resource of kind id under compare-and-swap,
// retrying on conflict; mutate may add guards and writes to t.
func update[T any](a *API, r *http.Request, kind, id string, mutate func(v *T, t *store.Txn) error) (T, error) {
	v, err := store.Update(r.Context(), a.st, a.st.ResourceKey(kind, id), mutate)
	return v, storeErr(err, "")
}

// deleteErr maps a delete that kept losing races to a 409.
func deleteErr(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return model.Errorf(http.StatusConflict, "Conflict.Concurrent", "the resource changed while deleting it; retry")
	}
	return err
}

// requestHash identifies a create request's parameters (without the
// clientToken and dryRun) for idempotency.
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
