package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Per-account quotas. Every resource a create makes gets an index key
// own/<account>/<kind>/<id> in the same transaction (removed with it);
// an account-wide quota is the count of those keys, and the create guards
// on none having been created since the count (Txn.NoneCreatedAfter), so
// two concurrent creates cannot both take the last slot. Per-VPC quotas
// count under the VPC, whose record every create in it rewrites
// (parentVPC); the rules quota is checked in the group's own
// compare-and-swap. A quota lowered below usage refuses new creates and
// deletes nothing.

// accountQuotaItem names the account-wide quota of each counted kind.
var accountQuotaItem = map[string]string{
	store.KindVPC: "vpcs", store.KindHost: "hosts", store.KindSG: "securityGroups", store.KindService: "services",
}

// quotaOf is an account's quota: its record, or the defaults. The admin
// (the operator, trusted) has the highest values the admin may set.
func (a *API) quotaOf(r *http.Request, account string) (model.Quota, error) {
	if c := callerOf(r); c.Admin && c.AccountID == account {
		return model.MaxQuota(), nil
	}
	q, _, err := store.Get[model.Quota](r.Context(), a.st, a.st.QuotaKey(account))
	if errors.Is(err, store.ErrNotFound) {
		return model.DefaultQuota(), nil
	}
	return q, err
}

// limit is the caller's limit of the quota item name.
func (a *API) limit(r *http.Request, name string) (model.QuotaItem, int, error) {
	it, _ := model.QuotaItemNamed(name)
	q, err := a.quotaOf(r, callerOf(r).AccountID)
	if err != nil {
		return it, 0, err
	}
	return it, *it.Field(&q), nil
}

// quotaExceeded is the error of a create beyond a limit: what, and how to
// get room.
func quotaExceeded(it model.QuotaItem, limit int, where string) error {
	return model.Errorf(http.StatusBadRequest, it.Code,
		"%s has reached its quota of %d %s; delete one, or ask the admin to raise it (privlink account set-quota ACCOUNT --%s N)",
		where, limit, it.Noun, it.Flag())
}

// checkPerScope refuses a create when used (in one VPC or group) has
// reached the caller's limit of the quota item name.
func (a *API) checkPerScope(r *http.Request, name string, used int, where string) error {
	it, limit, err := a.limit(r, name)
	if err != nil {
		return err
	}
	if used >= limit {
		return quotaExceeded(it, limit, where)
	}
	return nil
}

// accountQuota checks the caller's account-wide quota of kind and guards t
// on it still holding at commit.
func (a *API) accountQuota(r *http.Request, t *store.Txn, kind string) error {
	name, ok := accountQuotaItem[kind]
	if !ok {
		return nil
	}
	it, limit, err := a.limit(r, name)
	if err != nil {
		return err
	}
	acct := callerOf(r).AccountID
	prefix := a.st.OwnedPrefix(acct, kind)
	n, rev, err := a.st.CountAt(r.Context(), prefix)
	if err != nil {
		return err
	}
	if n >= int64(limit) {
		return quotaExceeded(it, limit, "account "+acct)
	}
	t.NoneCreatedAfter(prefix, rev)
	return nil
}

// indexOwned adds the account index key of a new resource (and checks the
// account-wide quota of its kind): every create goes through it.
func (a *API) indexOwned(r *http.Request, t *store.Txn, kind, id string, v any) error {
	o, ok := v.(owned)
	if !ok {
		return nil
	}
	if err := a.accountQuota(r, t, kind); err != nil {
		return err
	}
	t.Index(a.st.OwnedKey(o.Owner(), kind, id))
	return nil
}

// quotaAccount checks the account of a quota request: the caller's own or,
// for the admin, any; another account's is a 404.
func (a *API) quotaAccount(r *http.Request) (string, error) {
	id, c := r.PathValue("id"), callerOf(r)
	if id != c.AccountID && !c.Admin {
		return "", model.NotFound("Account", id)
	}
	if _, _, err := store.Get[model.Account](r.Context(), a.st, a.st.ResourceKey(store.KindAccount, id)); errors.Is(err, store.ErrNotFound) {
		return "", model.NotFound("Account", id)
	} else if err != nil {
		return "", err
	}
	return id, nil
}

func (a *API) getQuota(r *http.Request) (any, error) {
	id, err := a.quotaAccount(r)
	if err != nil {
		return nil, err
	}
	q, err := a.quotaOf(r, id)
	if err != nil {
		return nil, err
	}
	return a.quotaView(r, id, q)
}

// setQuota changes the limits the request gives (admin only), guarded on
// the quota record's revision and on the account existing.
func (a *API) setQuota(r *http.Request, req api.SetQuotaRequest) (any, error) {
	id, err := a.quotaAccount(r)
	if err != nil {
		return nil, err
	}
	if id == callerOf(r).AccountID {
		return nil, model.Errorf(http.StatusBadRequest, "OperationDenied.AdminAccount", "the admin account has the highest value of every quota; set other accounts' quotas")
	}
	key := a.st.QuotaKey(id)
	for attempt := 0; attempt < 10; attempt++ {
		q, rev, err := store.Get[model.Quota](r.Context(), a.st, key)
		if errors.Is(err, store.ErrNotFound) {
			q, rev = model.DefaultQuota(), 0
		} else if err != nil {
			return nil, err
		}
		for name, v := range req.Fields() {
			if v != nil {
				it, _ := model.QuotaItemNamed(name)
				*it.Field(&q) = *v
			}
		}
		ok, err := a.st.NewTxn().Exists(a.st.ResourceKey(store.KindAccount, id)).Unchanged(key, rev).Put(key, q).Commit(r.Context())
		if err != nil {
			return nil, err
		}
		if ok {
			return a.quotaView(r, id, q)
		}
	}
	return nil, storeErr(store.ErrConflict, "")
}

// quotaView is an account's limits with its usage: for a per-VPC or
// per-group limit, the highest of any one of its VPCs or groups.
func (a *API) quotaView(r *http.Request, id string, q model.Quota) (api.AccountQuota, error) {
	ctx := r.Context()
	st, err := a.st.ReadState(ctx, store.KindVPC, store.KindVSwitch, store.KindSG)
	if err != nil {
		return api.AccountQuota{}, err
	}
	usage := map[string]int{}
	for kind, name := range accountQuotaItem {
		n, err := a.st.Count(ctx, a.st.OwnedPrefix(id, kind))
		if err != nil {
			return api.AccountQuota{}, err
		}
		usage[name] = int(n)
	}
	perVPC := map[string]int{}
	for _, s := range st.VSwitches {
		if s.AccountID == id {
			perVPC[s.VpcID]++
			usage["vSwitchesPerVpc"] = max(usage["vSwitchesPerVpc"], perVPC[s.VpcID])
		}
	}
	for _, g := range st.SGs {
		if g.AccountID == id {
			usage["rulesPerSecurityGroup"] = max(usage["rulesPerSecurityGroup"], len(g.Rules))
		}
	}
	for _, v := range st.VPCs {
		if v.AccountID != id {
			continue
		}
		n, err := a.st.Count(ctx, a.st.VPCEndpointsPrefix(v.VpcID))
		if err != nil {
			return api.AccountQuota{}, err
		}
		usage["endpointsPerVpc"] = max(usage["endpointsPerVpc"], int(n))
	}
	out := api.AccountQuota{AccountID: id}
	for _, it := range model.QuotaItems {
		out.Items = append(out.Items, api.QuotaUsage{Name: it.Name, Scope: it.Scope, Limit: *it.Field(&q),
			Usage: usage[it.Name], Default: it.Def, Code: it.Code})
	}
	return out, nil
}

// IndexOwned adds the account index key of every resource that lacks one
// (a store written before the quotas existed), each guarded by the
// resource still existing, and says how many it added. With nothing
// missing it only reads. Once every kind is done it writes the index
// marker (see EnsureOwnedIndex); a pass that fails or stops part-way
// leaves the marker as it was.
func IndexOwned(ctx context.Context, st *store.Store) (int, error) {
	have, err := st.KeySet(ctx, st.KindPrefix(store.KindOwned))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, kind := range ownedKinds {
		if err := indexPassHook(kind); err != nil {
			return n, err
		}
		owners, err := ownersOf(ctx, st, kind)
		if err != nil {
			return n, err
		}
		for id, owner := range owners {
			key := st.OwnedKey(owner, kind, id)
			if have[key] {
				continue
			}
			ok, err := st.NewTxn().Exists(st.ResourceKey(kind, id)).Claim(key, "").Commit(ctx)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
	}
	if err := st.SetMeta(ctx, ownedIndexMeta, ownedIndexVersion); err != nil {
		return n, fmt.Errorf("account index marker: %w", err)
	}
	return n, nil
}

// ownersOf maps every good record of kind to its owner.
func ownersOf(ctx context.Context, st *store.Store, kind string) (map[string]string, error) {
	switch kind {
	case store.KindVPC:
		return owners[model.VPC](ctx, st, kind)
	case store.KindVSwitch:
		return owners[model.VSwitch](ctx, st, kind)
	case store.KindSG:
		return owners[model.SecurityGroup](ctx, st, kind)
	case store.KindHost:
		return owners[model.Host](ctx, st, kind)
	case store.KindService:
		return owners[model.EndpointService](ctx, st, kind)
	case store.KindEndpoint:
		return owners[model.Endpoint](ctx, st, kind)
	}
	return nil, nil
}

func owners[T owned](ctx context.Context, st *store.Store, kind string) (map[string]string, error) {
	all, err := store.List[T](ctx, st, st.KindPrefix(kind))
	out := make(map[string]string, len(all))
	for _, v := range all {
		out[v.ID()] = v.Owner()
	}
	return out, err
}
