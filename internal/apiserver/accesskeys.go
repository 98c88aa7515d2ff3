package apiserver

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// AccessKey pairs sign requests of the Alibaba Cloud RPC API
// (internal/aliyun). An account has at most api.MaxAccessKeysPerAccount;
// the secret is returned once, by the create.

const (
	upperDigits  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// randomString draws n characters of alphabet uniformly from crypto/rand.
func randomString(alphabet string, n int) string {
	out := make([]byte, n)
	buf := make([]byte, 1)
	limit := 256 - 256%len(alphabet)
	for i := 0; i < n; {
		if _, err := rand.Read(buf); err != nil {
			panic("crypto/rand: " + err.Error())
		}
		if int(buf[0]) < limit {
			out[i] = alphabet[int(buf[0])%len(alphabet)]
			i++
		}
	}
	return string(out)
}

func accessKeyView(rec store.AccessKeyRecord) api.AccessKey {
	return api.AccessKey{AccessKeyID: rec.AccessKeyID, AccountID: rec.AccountID, Status: "Active", CreateTime: rec.CreateTime}
}

// accessKeysOf lists an account's access keys and the revision of the read.
func (a *API) accessKeysOf(ctx context.Context, account string) ([]store.AccessKeyRecord, int64, error) {
	recs, rev, err := store.ListRecords[store.AccessKeyRecord](ctx, a.st, a.st.KindPrefix(store.KindAccessKey))
	var out []store.AccessKeyRecord
	for _, r := range recs {
		if r.Value.AccountID == account {
			out = append(out, r.Value)
		}
	}
	return out, rev, err
}

// deleteAccessKeysOf adds the deletion of an account's AccessKeys to t,
// guarded on no key created since the read (DeleteAccount).
func (a *API) deleteAccessKeysOf(r *http.Request, account string, t *store.Txn) error {
	keys, rev, err := a.accessKeysOf(r.Context(), account)
	if err != nil {
		return err
	}
	for _, k := range keys {
		t.Delete(a.st.ResourceKey(store.KindAccessKey, k.AccessKeyID))
	}
	t.NoneCreatedAfter(a.st.KindPrefix(store.KindAccessKey), rev)
	return nil
}

func (a *API) createAccessKey(r *http.Request) (any, error) {
	c := callerOf(r)
	rec := store.AccessKeyRecord{AccessKeyID: "PLAK" + randomString(upperDigits, 20), AccountID: c.AccountID, Admin: c.Admin,
		Secret: randomString(alphanumeric, 30), CreateTime: now()}
	_, _, err := a.st.Create(r.Context(), store.KindAccessKey, store.Idem{}, func(t *store.Txn) (string, any, error) {
		mine, rev, err := a.accessKeysOf(r.Context(), c.AccountID)
		if err != nil {
			return "", nil, err
		}
		if len(mine) >= api.MaxAccessKeysPerAccount {
			return "", nil, model.Errorf(http.StatusBadRequest, "QuotaExceeded.AccessKey", "an account has at most %d AccessKeys; delete one first", api.MaxAccessKeysPerAccount)
		}
		// No other key of any account created since the count: two
		// concurrent creates cannot both pass the quota.
		t.NoneCreatedAfter(a.st.KindPrefix(store.KindAccessKey), rev)
		if err := a.ownAccount(r, t); err != nil {
			return "", nil, err
		}
		return rec.AccessKeyID, rec, nil
	})
	if err != nil {
		return nil, storeErr(err, "")
	}
	return api.AccessKeyWithSecret{AccessKey: accessKeyView(rec), AccessKeySecret: rec.Secret}, nil
}

func (a *API) listAccessKeys(r *http.Request) (any, error) {
	mine, _, err := a.accessKeysOf(r.Context(), callerOf(r).AccountID)
	if err != nil {
		return nil, err
	}
	items := make([]api.AccessKey, 0, len(mine))
	for _, k := range mine {
		items = append(items, accessKeyView(k))
	}
	return paginate(r, items, func(k api.AccessKey) string { return k.AccessKeyID })
}

func (a *API) deleteAccessKey(r *http.Request) (any, error) {
	id := r.PathValue("id")
	notFound := model.Errorf(http.StatusNotFound, "InvalidAccessKeyId.NotFound", "AccessKey %s does not exist", id)
	if !store.ValidAccessKeyID(id) {
		return nil, notFound
	}
	rec, rev, err := store.Get[store.AccessKeyRecord](r.Context(), a.st, a.st.ResourceKey(store.KindAccessKey, id))
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.AccountID != callerOf(r).AccountID) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if err := a.st.Delete(r.Context(), store.KindAccessKey, id, rev, a.st.NewTxn()); err != nil {
		return nil, storeErr(err, "")
	}
	return accessKeyView(rec), nil
}

// LookupAccessKey reads an access key for signature verification (the
// RPC front end): the account it acts as and its secret. An unknown ID is
// store.ErrNotFound.
func (a *API) LookupAccessKey(ctx context.Context, id string) (accountID string, admin bool, secret string, err error) {
	if !store.ValidAccessKeyID(id) {
		return "", false, "", store.ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	rec, _, err := store.Get[store.AccessKeyRecord](ctx, a.st, a.st.ResourceKey(store.KindAccessKey, id))
	if err != nil {
		return "", false, "", err
	}
	return rec.AccountID, rec.Admin, rec.Secret, nil
}

// TokenAccount resolves a bearer token to its account (for the RPC front
// end's SignatureType=BEARERTOKEN).
func (a *API) TokenAccount(ctx context.Context, tok string) (accountID string, admin bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	c, err := a.Authenticate(ctx, tok)
	return c.AccountID, c.Admin, err
}

// preAuthKey carries a caller authenticated by an in-process front end
// (AsCaller); a remote request cannot set a context value.
type preAuthKey struct{}

// AsCaller is the API handler acting as an account that another front end
// (the RPC API) has already authenticated: requests through it skip the
// bearer token. It must only be called in-process, never mounted on a
// listener.
func (a *API) AsCaller(accountID string, admin bool) http.Handler {
	c := caller{AccountID: accountID, Admin: admin}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), preAuthKey{}, c)))
	})
}
