package apiserver

import (
	"errors"
	"net/http"
	"sort"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// owned is a resource record with an owning account and an ID.
type owned interface {
	Owner() string
	ID() string
}

// inVPC is a resource that lives in a VPC.
type inVPC interface {
	owned
	VPC() string
}

// kindNames are the resource names of the store kinds in error codes
// (<Name>NotFound, DependencyViolation.<Name>).
var kindNames = map[string]string{
	store.KindAccount: "Account",
	store.KindVPC:     "Vpc", store.KindVSwitch: "VSwitch", store.KindSG: "SecurityGroup",
	store.KindHost: "Host", store.KindService: "EndpointService", store.KindEndpoint: "Endpoint",
	store.KindLB: "LoadBalancer",
}

// getOwned reads a resource and hides other accounts' resources as 404.
func getOwned[T owned](a *API, r *http.Request, kind, id string) (T, int64, error) {
	v, rev, err := store.Get[T](r.Context(), a.st, a.st.ResourceKey(kind, id))
	if errors.Is(err, store.ErrNotFound) || (err == nil && v.Owner() != callerOf(r).AccountID) {
		var zero T
		return zero, 0, model.NotFound(kindNames[kind], id)
	}
	return v, rev, err
}

// listOwned lists a kind filtered to the caller's account and an optional
// predicate; bad records are skipped by the store.
func listOwned[T owned](a *API, r *http.Request, kind string, keep func(T) bool) ([]T, error) {
	all, err := store.List[T](r.Context(), a.st, a.st.KindPrefix(kind))
	if err != nil {
		return nil, err
	}
	me := callerOf(r).AccountID
	out := all[:0]
	for _, v := range all {
		if v.Owner() == me && (keep == nil || keep(v)) {
			out = append(out, v)
		}
	}
	return out, nil
}

// getOf is the GET handler of a kind.
func getOf[T owned](a *API, kind string) handlerFunc {
	return func(r *http.Request) (any, error) {
		v, _, err := getOwned[T](a, r, kind, r.PathValue("id"))
		return v, err
	}
}

// listOf is the list handler of a kind: one page of the caller's resources
// (unfiltered: read through the account's index, O(page)).
func listOf[T owned](a *API, kind string) handlerFunc {
	return listInVPCIf[T](a, kind, nil)
}

// listInVPC is listOf with the vpcId filter.
func listInVPC[T inVPC](a *API, kind string) handlerFunc {
	return listInVPCIf[T](a, kind, func(v T) string { return v.VPC() })
}

// listInVPCIf is listOf, with the vpcId filter when vpcOf is given.
func listInVPCIf[T owned](a *API, kind string, vpcOf func(T) string) handlerFunc {
	return func(r *http.Request) (any, error) {
		vpc := ""
		if vpcOf != nil {
			vpc = r.URL.Query().Get(api.FilterVpcID)
		}
		tags, err := tagFilter(r)
		if err != nil {
			return nil, err
		}
		if vpc == "" && tags == nil {
			return indexPage[T](a, r, a.st.OwnedPrefix(callerOf(r).AccountID, kind), kind)
		}
		items, err := listOwned(a, r, kind, func(v T) bool { return vpc == "" || vpcOf(v) == vpc })
		if err == nil {
			items, err = filterTags(r, items)
		}
		if err != nil {
			return nil, err
		}
		return paginate(r, items, T.ID)
	}
}

// parentVPC reads the caller's VPC id for a create and guards t on it: the
// VPC is rewritten unchanged with the create, so creates in one VPC
// serialize with each other, with its quotas and with its deletion.
func (a *API) parentVPC(r *http.Request, t *store.Txn, id string) (model.VPC, error) {
	vpc, rev, err := getOwned[model.VPC](a, r, store.KindVPC, id)
	if err == nil {
		t.Touch(a.st.ResourceKey(store.KindVPC, id), rev, vpc)
	}
	return vpc, err
}

// inParentVPC is the build of a resource that lives in the caller's VPC
// vpcID, guarded by parentVPC.
func (a *API) inParentVPC(r *http.Request, vpcID string, b func(t *store.Txn, vpc model.VPC) (string, any, error)) build {
	return func(t *store.Txn) (string, any, error) {
		vpc, err := a.parentVPC(r, t, vpcID)
		if err != nil {
			return "", nil, err
		}
		return b(t, vpc)
	}
}

// deleteOf is the DELETE handler of a kind: plan checks what blocks the
// delete and adds guards and writes to t (it may also change the record
// as returned to the caller); the record goes if it is unchanged meanwhile.
func deleteOf[T owned](a *API, kind string, plan func(r *http.Request, v *T, t *store.Txn) error) handlerFunc {
	return func(r *http.Request) (any, error) {
		id := r.PathValue("id")
		var v T
		err := store.Retry(r.Context(), func() error {
			var rev int64
			var err error
			if v, rev, err = getOwned[T](a, r, kind, id); err != nil {
				return err
			}
			t := a.st.NewTxn()
			if err := plan(r, &v, t); err != nil {
				return err
			}
			t.Delete(a.st.OwnedKey(v.Owner(), kind, id))
			return a.st.Delete(r.Context(), kind, id, rev, t)
		})
		if err != nil {
			return nil, deleteErr(err)
		}
		return v, nil
	}
}

// paginate sorts by key and applies maxResults (1-100, default 50) and nextToken.
func paginate[T any](r *http.Request, items []T, key func(T) string) (api.List[T], error) {
	p, err := parsePage(r)
	if err != nil {
		return api.List[T]{}, err
	}
	sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	start := 0
	if p.after != "" {
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > p.after })
	}
	out := api.List[T]{Items: items[start:], TotalCount: len(items)}
	if len(out.Items) > p.max {
		out.Items = out.Items[:p.max]
		out.NextToken = pageToken(key(out.Items[p.max-1]))
	}
	if out.Items == nil {
		out.Items = []T{}
	}
	return out, nil
}

// endpointWhere returns the first endpoint (of any account) that match
// accepts, or nil: what blocks deleting a service or a security group.
func (a *API) endpointWhere(r *http.Request, match func(model.Endpoint) bool) (*model.Endpoint, error) {
	eps, err := store.List[model.Endpoint](r.Context(), a.st, a.st.KindPrefix(store.KindEndpoint))
	if err != nil {
		return nil, err
	}
	for _, ep := range eps {
		if match(ep) {
			return &ep, nil
		}
	}
	return nil, nil
}

// dependency is the error of a delete blocked by what still uses the resource.
func dependency(kind, id, what string) error {
	return model.Errorf(http.StatusBadRequest, "DependencyViolation."+kindNames[kind], "%s %s is still used by %s; delete that first", kindNames[kind], id, what)
}
