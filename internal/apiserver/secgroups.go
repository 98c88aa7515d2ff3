package apiserver

import (
	"net/http"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

func normalizeRules(in []model.SecurityGroupRule) ([]model.SecurityGroupRule, error) {
	if len(in) > api.MaxRulesPerGroup {
		return nil, model.Errorf(http.StatusBadRequest, "QuotaExceeded.RulesPerGroup", "a security group has at most %d rules", api.MaxRulesPerGroup)
	}
	out := make([]model.SecurityGroupRule, 0, len(in))
	for _, r := range in {
		n, err := model.NormalizeRule(r)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (a *API) createSecurityGroup(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.CreateSecurityGroupRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := model.ValidateName("SecurityGroupName", req.Name, true); err != nil {
		return nil, err
	}
	rules, err := normalizeRules(req.Rules)
	if err != nil {
		return nil, err
	}
	build := func() (*plan, error) {
		vpc, vrev, err := getOwned(a, r, store.KindVPC, "Vpc", req.VpcID, vpcOwner)
		if err != nil {
			return nil, err
		}
		g := model.SecurityGroup{SecurityGroupID: model.NewID(model.PrefixSG), AccountID: vpc.AccountID, VpcID: vpc.VpcID,
			Name: req.Name, Rules: rules, CreateTime: now()}
		c, o := touch(a.st.Key(store.KindVPC, vpc.VpcID), vrev, vpc)
		return &plan{id: g.SecurityGroupID, value: g, cmps: []clientv3.Cmp{c}, ops: []clientv3.Op{o}}, nil
	}
	return createThenGet(a, r, store.KindSG, "SecurityGroup", req.ClientToken, req.DryRun, req, build, sgOwner)
}

func (a *API) getSecurityGroup(w http.ResponseWriter, r *http.Request) (any, error) {
	v, _, err := getOwned(a, r, store.KindSG, "SecurityGroup", r.PathValue("id"), sgOwner)
	return v, err
}

func (a *API) listSecurityGroups(w http.ResponseWriter, r *http.Request) (any, error) {
	vpc := r.URL.Query().Get("vpcId")
	items, err := listOwned(a, r, store.KindSG, sgOwner, func(v model.SecurityGroup) bool { return vpc == "" || v.VpcID == vpc })
	if err != nil {
		return nil, err
	}
	return paginate(r, items, func(v model.SecurityGroup) string { return v.SecurityGroupID })
}

func (a *API) authorizeSecurityGroup(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.changeRules(r, true)
}

func (a *API) revokeSecurityGroup(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.changeRules(r, false)
}

func (a *API) changeRules(r *http.Request, add bool) (any, error) {
	var req api.RulesRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.Rules) == 0 {
		return nil, model.Invalid("Rules", "at least one rule is required")
	}
	rules, err := normalizeRules(req.Rules)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	if _, _, err := getOwned(a, r, store.KindSG, "SecurityGroup", id, sgOwner); err != nil {
		return nil, err
	}
	if req.DryRun {
		return dryRunOK(r), nil
	}
	return update(a, r, a.st.Key(store.KindSG, id), func(g *model.SecurityGroup) (guard, error) {
		for _, rule := range rules {
			i := slices.Index(g.Rules, rule)
			switch {
			case add && i < 0:
				g.Rules = append(g.Rules, rule)
			case !add && i >= 0:
				g.Rules = slices.Delete(g.Rules, i, i+1)
			}
		}
		if len(g.Rules) > api.MaxRulesPerGroup {
			return guard{}, model.Errorf(http.StatusBadRequest, "QuotaExceeded.RulesPerGroup", "a security group has at most %d rules", api.MaxRulesPerGroup)
		}
		return guard{}, nil
	})
}

func (a *API) deleteSecurityGroup(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	v, rev, err := getOwned(a, r, store.KindSG, "SecurityGroup", id, sgOwner)
	if err != nil {
		return nil, err
	}
	st, err := a.snapshot(r)
	if err != nil {
		return nil, err
	}
	for _, ep := range st.Endpoints {
		if slices.Contains(ep.SecurityGroupIDs, id) {
			return nil, dependency("SecurityGroup", id, "endpoint "+ep.EndpointID)
		}
	}
	key := a.st.Key(store.KindSG, id)
	if err := a.deleteIf(r, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, clientv3.OpDelete(key)); err != nil {
		return nil, err
	}
	return v, nil
}
