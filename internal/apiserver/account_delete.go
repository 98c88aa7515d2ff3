package apiserver

import (
	"errors"
	"net/http"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// ownership finds the first resource of one kind an account owns, and the
// store revision the read saw.
type ownership func(a *API, r *http.Request, account string) (what string, rev int64, err error)

// firstOwned is the ownership check of kind, naming what it finds as noun.
func firstOwned[T owned](kind, noun string) ownership {
	return func(a *API, r *http.Request, account string) (string, int64, error) {
		recs, rev, err := store.ListRecords[T](r.Context(), a.st, a.st.KindPrefix(kind))
		for _, rec := range recs {
			if rec.Value.Owner() == account {
				return noun + " " + rec.Value.ID(), rev, nil
			}
		}
		return "", rev, err
	}
}

// accountResources are the kinds an account may own. Every one but the
// VPC lives in a VPC of the account (their creates guard on it), so only
// a VPC created after the check can race the deletion; ownAccount makes a
// VPC create fail once the account is gone.
var accountResources = []ownership{
	firstOwned[model.VPC](store.KindVPC, "VPC"),
	firstOwned[model.VSwitch](store.KindVSwitch, "vSwitch"),
	firstOwned[model.SecurityGroup](store.KindSG, "security group"),
	firstOwned[model.Host](store.KindHost, "host"),
	firstOwned[model.EndpointService](store.KindService, "endpoint service"),
	firstOwned[model.Endpoint](store.KindEndpoint, "endpoint"),
	firstOwned[model.LoadBalancer](store.KindLB, "load balancer"),
}

// deleteAccount deletes an account that owns nothing, with its tokens and
// AccessKeys (admin only; the admin's own account cannot go).
func (a *API) deleteAccount(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if id == callerOf(r).AccountID {
		return nil, model.Errorf(http.StatusBadRequest, "OperationDenied.AdminAccount", "the admin account cannot be deleted")
	}
	acct, rev, err := store.Get[model.Account](r.Context(), a.st, a.st.ResourceKey(store.KindAccount, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, model.NotFound("Account", id)
	}
	if err != nil {
		return nil, err
	}
	t := a.st.NewTxn()
	if err := a.deleteAccessKeysOf(r, id, t); err != nil {
		return nil, err
	}
	for i, owns := range accountResources {
		what, readRev, err := owns(a, r, id)
		if err != nil {
			return nil, err
		}
		if what != "" {
			return nil, dependency(store.KindAccount, id, what)
		}
		if i == 0 {
			t.NoneCreatedAfter(a.st.KindPrefix(store.KindVPC), readRev)
		}
	}
	for _, h := range acct.TokenHashes {
		t.Delete(a.st.ResourceKey(store.KindToken, h))
	}
	t.Delete(a.st.QuotaKey(id))
	if err := a.st.Delete(r.Context(), store.KindAccount, id, rev, t); err != nil {
		return nil, deleteErr(err)
	}
	acct.TokenHashes = nil
	return api.AccountWithToken{Account: acct}, nil
}
