package apiserver

import (
	"net/http"
	"slices"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Tags and resource groups of VPCs, vSwitches, security groups, services
// and endpoints: set at create, changed here, only by the owner.

// tagged is a record with tags and a resource group (model.Tagging).
type tagged interface {
	TagState() *model.Tagging
}

// tagKinds maps the API's resource types to store kinds.
var tagKinds = map[string]string{
	api.ResourceVPC: store.KindVPC, api.ResourceVSwitch: store.KindVSwitch, api.ResourceSecurityGroup: store.KindSG,
	api.ResourceService: store.KindService, api.ResourceEndpoint: store.KindEndpoint,
}

func tagKind(rt string) (string, error) {
	k, ok := tagKinds[rt]
	if !ok {
		return "", model.Invalid("ResourceType", "resource type %q is not one of %v", rt, api.TaggableResources)
	}
	return k, nil
}

// newTagging validates the tags and resource group of a create.
func newTagging(tags []model.Tag, rg string) (model.Tagging, error) {
	if err := model.ValidateTags("Tags", tags); err != nil {
		return model.Tagging{}, err
	}
	if err := model.ValidateResourceGroupID("ResourceGroupId", rg); err != nil {
		return model.Tagging{}, err
	}
	sorted, _ := model.WithTags(nil, tags)
	if len(sorted) == 0 {
		sorted = nil
	}
	return model.Tagging{Tags: sorted, ResourceGroupID: rg}, nil
}

// tagFilter is the list filter of the query's tag and resourceGroupId.
func tagFilter(r *http.Request) (func(any) bool, error) {
	q := r.URL.Query()
	var want []model.Tag
	for _, s := range q[api.FilterTag] {
		t := model.ParseTag(s)
		if err := model.ValidateTagKey("Tag.Key", t.Key); err != nil {
			return nil, err
		}
		want = append(want, t)
	}
	if len(want) > model.MaxTags {
		return nil, model.Invalid("Tag", "at most %d tag filters", model.MaxTags)
	}
	rg := q.Get(api.FilterResourceGroupID)
	if len(want) == 0 && rg == "" {
		return nil, nil
	}
	return func(v any) bool {
		tg, ok := v.(tagged)
		if !ok {
			return false
		}
		s := tg.TagState()
		return (rg == "" || s.ResourceGroupID == rg) && model.MatchTags(s.Tags, want)
	}, nil
}

// retag applies change to the tagging of the caller's resources ids of
// kind, in one transaction: all or none.
func retag[T owned](a *API, r *http.Request, kind string, ids []string, change func(*model.Tagging) error) error {
	err := store.Retry(r.Context(), func() error {
		t := a.st.NewTxn()
		for _, id := range ids {
			v, rev, err := getOwned[T](a, r, kind, id)
			if err != nil {
				return err
			}
			if err := change(any(&v).(tagged).TagState()); err != nil {
				return err
			}
			t.Touch(a.st.ResourceKey(kind, id), rev, v)
		}
		ok, err := t.Commit(r.Context())
		if err == nil && !ok {
			err = store.ErrConflict
		}
		return err
	})
	return storeErr(err, "")
}

// retagKind is retag for a store kind.
func (a *API) retagKind(r *http.Request, kind string, ids []string, change func(*model.Tagging) error) error {
	switch kind {
	case store.KindVPC:
		return retag[model.VPC](a, r, kind, ids, change)
	case store.KindVSwitch:
		return retag[model.VSwitch](a, r, kind, ids, change)
	case store.KindSG:
		return retag[model.SecurityGroup](a, r, kind, ids, change)
	case store.KindService:
		return retag[model.EndpointService](a, r, kind, ids, change)
	default:
		return retag[model.Endpoint](a, r, kind, ids, change)
	}
}

func checkTagIDs(ids []string) error {
	if len(ids) == 0 || len(ids) > api.MaxTagResources {
		return model.Invalid("ResourceIds", "give 1 to %d resource IDs", api.MaxTagResources)
	}
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return model.Invalid("ResourceIds", "resource %s is given twice", id)
		}
	}
	return nil
}

func (a *API) tagResources(r *http.Request, req api.TagResourcesRequest) (any, error) {
	kind, err := tagKind(req.ResourceType)
	if err != nil {
		return nil, err
	}
	if err := checkTagIDs(req.ResourceIDs); err != nil {
		return nil, err
	}
	if len(req.Tags) == 0 {
		return nil, model.Invalid("Tags", "give at least one tag")
	}
	if err := model.ValidateTags("Tags", req.Tags); err != nil {
		return nil, err
	}
	err = a.retagKind(r, kind, req.ResourceIDs, func(tg *model.Tagging) error {
		tags, err := model.WithTags(tg.Tags, req.Tags)
		tg.Tags = tags
		return err
	})
	if err != nil {
		return nil, err
	}
	return a.tagsOf(r, req.ResourceType, kind, req.ResourceIDs, nil)
}

func (a *API) untagResources(r *http.Request, req api.UntagResourcesRequest) (any, error) {
	kind, err := tagKind(req.ResourceType)
	if err != nil {
		return nil, err
	}
	if err := checkTagIDs(req.ResourceIDs); err != nil {
		return nil, err
	}
	if !req.All && len(req.TagKeys) == 0 {
		return nil, model.Invalid("TagKeys", "give tag keys to remove, or all")
	}
	if len(req.TagKeys) > model.MaxTags {
		return nil, model.Invalid("TagKeys", "at most %d tag keys", model.MaxTags)
	}
	err = a.retagKind(r, kind, req.ResourceIDs, func(tg *model.Tagging) error {
		tg.Tags = model.WithoutTags(tg.Tags, req.TagKeys, req.All)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a.tagsOf(r, req.ResourceType, kind, req.ResourceIDs, nil)
}

func (a *API) changeResourceGroup(r *http.Request, req api.ChangeResourceGroupRequest) (any, error) {
	kind, err := tagKind(req.ResourceType)
	if err != nil {
		return nil, err
	}
	if req.ResourceID == "" {
		return nil, model.Invalid("ResourceId", "resourceId is required")
	}
	if err := model.ValidateResourceGroupID("ResourceGroupId", req.ResourceGroupID); err != nil {
		return nil, err
	}
	err = a.retagKind(r, kind, []string{req.ResourceID}, func(tg *model.Tagging) error {
		tg.ResourceGroupID = req.ResourceGroupID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return req, nil
}

// listTagResources lists the tags of the caller's resources of one type:
// those given by resourceId (each must exist), else every one of the type,
// filtered by tag.
func (a *API) listTagResources(r *http.Request) (any, error) {
	q := r.URL.Query()
	rt := q.Get(api.FilterResourceType)
	kind, err := tagKind(rt)
	if err != nil {
		return nil, err
	}
	ids := q[api.FilterResourceID]
	if len(ids) > api.MaxTagResources {
		return nil, model.Invalid("ResourceId", "at most %d resource IDs", api.MaxTagResources)
	}
	keep, err := tagFilter(r)
	if err != nil {
		return nil, err
	}
	items, err := a.tagsOf(r, rt, kind, ids, keep)
	if err != nil {
		return nil, err
	}
	return paginate(r, items.Items, func(t api.TagResource) string { return t.ResourceID + "\x00" + t.Key })
}

// tagsOf lists the tags of the caller's resources ids of kind (none
// given: all of them) that keep accepts.
func (a *API) tagsOf(r *http.Request, rt, kind string, ids []string, keep func(any) bool) (api.List[api.TagResource], error) {
	var recs []any
	var err error
	switch kind {
	case store.KindVPC:
		recs, err = ownedAny[model.VPC](a, r, kind, ids)
	case store.KindVSwitch:
		recs, err = ownedAny[model.VSwitch](a, r, kind, ids)
	case store.KindSG:
		recs, err = ownedAny[model.SecurityGroup](a, r, kind, ids)
	case store.KindService:
		recs, err = ownedAny[model.EndpointService](a, r, kind, ids)
	default:
		recs, err = ownedAny[model.Endpoint](a, r, kind, ids)
	}
	out := api.List[api.TagResource]{Items: []api.TagResource{}}
	if err != nil {
		return out, err
	}
	for _, v := range recs {
		if keep != nil && !keep(v) {
			continue
		}
		for _, t := range v.(tagged).TagState().Tags {
			out.Items = append(out.Items, api.TagResource{ResourceType: rt, ResourceID: v.(owned).ID(), Key: t.Key, Value: t.Value})
		}
	}
	out.TotalCount = len(out.Items)
	return out, nil
}

// ownedAny reads the caller's resources ids of kind (none given: all),
// as pointers so that their tagging is reachable.
func ownedAny[T owned](a *API, r *http.Request, kind string, ids []string) ([]any, error) {
	var vs []T
	if len(ids) == 0 {
		var err error
		if vs, err = listOwned[T](a, r, kind, nil); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		v, _, err := getOwned[T](a, r, kind, id)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	out := make([]any, len(vs))
	for i := range vs {
		out[i] = &vs[i]
	}
	return out, nil
}

// filterTags keeps the items that pass the list's tag and resourceGroupId
// filters.
func filterTags[T any](r *http.Request, items []T) ([]T, error) {
	keep, err := tagFilter(r)
	if err != nil || keep == nil {
		return items, err
	}
	out := items[:0]
	for i := range items {
		if keep(&items[i]) {
			out = append(out, items[i])
		}
	}
	return out, nil
}

// redactTags hides a service's tags and resource group (the provider's
// labels) from its consumers.
func redactTags(r *http.Request, s model.EndpointService) model.EndpointService {
	if s.AccountID != callerOf(r).AccountID {
		s.Tagging = model.Tagging{}
	}
	return s
}
