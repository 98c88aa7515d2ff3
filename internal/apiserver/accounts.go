package apiserver

import (
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
