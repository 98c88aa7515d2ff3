package apiserver

import (
	"errors"
	"io/fs"
	"net/http"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

func (a *API) createAccount(r *http.Request, req api.CreateAccountRequest) (any, error) {
	if req.DryRun {
		return dryRunOK(r), nil
	}
	var tok string
	id, created, err := a.create(r, store.KindAccount, req.ClientToken, req, func(t *store.Txn) (string, any, error) {
		acct := model.Account{AccountID: model.NewAccountID(), Name: req.Name, CreateTime: now()}
		tok = NewToken()
		acct.TokenHashes = []string{HashToken(tok)}
		t.Put(a.st.ResourceKey(store.KindToken, HashToken(tok)), store.TokenRecord{AccountID: acct.AccountID})
		return acct.AccountID, acct, nil
	})
	if err != nil {
		return nil, err
	}
	acct, _, err := store.Get[model.Account](r.Context(), a.st, a.st.ResourceKey(store.KindAccount, id))
	if err != nil {
		return nil, err
	}
	out := api.AccountWithToken{Account: acct}
	out.TokenHashes = nil
	if created {
		out.Token = tok
	}
	return out, nil
}

func (a *API) listAccounts(r *http.Request) (any, error) {
	items, err := store.List[model.Account](r.Context(), a.st, a.st.KindPrefix(store.KindAccount))
	if err != nil {
		return nil, err
	}
	for i := range items {
		items[i].TokenHashes = nil
	}
	return paginate(r, items, func(x model.Account) string { return x.AccountID })
}

func (a *API) whoami(r *http.Request) (any, error) {
	c := callerOf(r)
	acct, _, err := store.Get[model.Account](r.Context(), a.st, a.st.ResourceKey(store.KindAccount, c.AccountID))
	if err != nil {
		return nil, err
	}
	acct.TokenHashes = nil
	return api.Caller{AccountID: acct.AccountID, Name: acct.Name, Admin: c.Admin, RegionID: a.naming.Region}, nil
}

func (a *API) describeRegion(r *http.Request) (any, error) {
	out := api.Region{RegionID: a.naming.Region, Domain: a.naming.Zone(), Network: a.network, NetnsPrefix: a.netnsPrefix}
	for _, z := range a.zones {
		out.Zones = append(out.Zones, api.Zone{ZoneID: z})
	}
	return out, nil
}

// rotateToken replaces an account's tokens by a new one, returned once:
// the old ones stop working when it commits. An account rotates its own;
// the admin may rotate any account's (another account's is a 404 to a
// non-admin, as if it did not exist).
func (a *API) rotateToken(r *http.Request) (any, error) {
	id, c := r.PathValue("id"), callerOf(r)
	if id != c.AccountID && !c.Admin {
		return nil, model.NotFound("Account", id)
	}
	tok := NewToken()
	rec := store.TokenRecord{AccountID: id, Admin: c.Admin && id == c.AccountID}
	if rec.Admin {
		a.adminRotate.Lock()
		defer a.adminRotate.Unlock()
	}
	acct, err := update(a, r, store.KindAccount, id, func(acct *model.Account, t *store.Txn) error {
		for _, h := range acct.TokenHashes {
			t.Delete(a.st.ResourceKey(store.KindToken, h))
		}
		acct.TokenHashes = []string{HashToken(tok)}
		t.Create(a.st.ResourceKey(store.KindToken, HashToken(tok)), rec)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, model.NotFound("Account", id)
	}
	if err != nil {
		return nil, err
	}
	acct.TokenHashes = nil
	out := api.AccountWithToken{Account: acct, Token: tok}
	if rec.Admin && a.adminTokenFile != "" {
		switch err := rewriteTokenFile(a.adminTokenFile, tok); {
		case err == nil:
			out.TokenFile = a.adminTokenFile
		case !errors.Is(err, fs.ErrNotExist):
			// The rotation is committed: the caller gets the token, the
			// operator the failure.
			a.log.Error("admin token rotated but its file not rewritten", "file", a.adminTokenFile, "err", err)
		}
	}
	return out, nil
}

// ownAccount guards a top-level create (a VPC) on the caller's account
// still existing at commit, so a create authenticated before the account's
// deletion cannot leave a resource nobody owns.
func (a *API) ownAccount(r *http.Request, t *store.Txn) error {
	key := a.st.ResourceKey(store.KindAccount, callerOf(r).AccountID)
	if _, _, err := store.Get[model.Account](r.Context(), a.st, key); errors.Is(err, store.ErrNotFound) {
		return model.Errorf(http.StatusUnauthorized, "InvalidToken.Unknown", "the token's account was deleted")
	} else if err != nil {
		return err
	}
	t.Exists(key)
	return nil
}
