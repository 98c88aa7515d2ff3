package apiserver

import (
	"net/http"
	"slices"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// normalizeRules checks a request's rules: at most MaxRulesPerRequest,
// each valid, none listed twice (after normalization).
func normalizeRules(in []model.SecurityGroupRule) ([]model.SecurityGroupRule, error) {
	if len(in) > api.MaxRulesPerRequest {
		return nil, model.Invalid("Rules", "a request carries at most %d rules", api.MaxRulesPerRequest)
	}
	out := make([]model.SecurityGroupRule, 0, len(in))
	for i, r := range in {
		n, err := model.NormalizeRule(r)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, n) {
			return nil, model.Invalid("Rules", "rule %d (%s %s from %s) is listed twice", i+1, n.Protocol, n.PortRange, n.SourceCidr)
		}
		out = append(out, n)
	}
	return out, nil
}

func (a *API) createSecurityGroup(r *http.Request, req api.CreateSecurityGroupRequest) (any, error) {
	tagging, err := newTagging(req.Tags, req.ResourceGroupID)
	if err != nil {
		return nil, err
	}
	rules, err := normalizeRules(req.Rules)
	if err != nil {
		return nil, err
	}
	build := a.inParentVPC(r, req.VpcID, func(_ *store.Txn, vpc model.VPC) (string, any, error) {
		if len(rules) > 0 {
			if err := a.checkPerScope(r, "rulesPerSecurityGroup", len(rules)-1, "the new security group"); err != nil {
				return "", nil, err
			}
		}
		g := model.SecurityGroup{SecurityGroupID: model.NewID(model.PrefixSG), AccountID: vpc.AccountID, VpcID: vpc.VpcID,
			Name: req.Name, Rules: rules, CreateTime: now(), Tagging: tagging}
		return g.SecurityGroupID, g, nil
	})
	return createThenGet[model.SecurityGroup](a, r, store.KindSG, req.ClientToken, req.DryRun, req, build)
}

func (a *API) authorizeSecurityGroup(r *http.Request, req api.RulesRequest) (any, error) {
	return a.changeRules(r, req, true)
}

func (a *API) revokeSecurityGroup(r *http.Request, req api.RulesRequest) (any, error) {
	return a.changeRules(r, req, false)
}

func (a *API) changeRules(r *http.Request, req api.RulesRequest, add bool) (any, error) {
	if len(req.Rules) == 0 {
		return nil, model.Invalid("Rules", "at least one rule is required")
	}
	rules, err := normalizeRules(req.Rules)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	if _, _, err := getOwned[model.SecurityGroup](a, r, store.KindSG, id); err != nil {
		return nil, err
	}
	if req.DryRun {
		return dryRunOK(r), nil
	}
	it, limit, err := a.limit(r, "rulesPerSecurityGroup")
	if err != nil {
		return nil, err
	}
	return update(a, r, store.KindSG, id, func(g *model.SecurityGroup, _ *store.Txn) error {
		before := len(g.Rules)
		for _, rule := range rules {
			i := slices.Index(g.Rules, rule)
			switch {
			case add && i < 0:
				g.Rules = append(g.Rules, rule)
			case !add && i >= 0:
				g.Rules = slices.Delete(g.Rules, i, i+1)
			}
		}
		if len(g.Rules) > before && len(g.Rules) > limit {
			return quotaExceeded(it, limit, "security group "+id)
		}
		return nil
	})
}

// deleteSecurityGroup refuses while an endpoint uses the group (an
// endpoint created meanwhile rewrites the group and fails the delete).
func (a *API) deleteSecurityGroup(r *http.Request, g *model.SecurityGroup, _ *store.Txn) error {
	ep, err := a.endpointWhere(r, func(ep model.Endpoint) bool { return slices.Contains(ep.SecurityGroupIDs, g.SecurityGroupID) })
	if err != nil {
		return err
	}
	if ep != nil {
		return dependency(store.KindSG, g.SecurityGroupID, "endpoint "+ep.EndpointID)
	}
	return nil
}
