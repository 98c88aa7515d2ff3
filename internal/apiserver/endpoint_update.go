package apiserver

import (
	"errors"
	"net/http"
	"slices"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// An endpoint's security groups can change after its creation: attach one
// of its VPC's groups, detach one while another stays. The zone agents
// apply the new rule set to new connections (live ones stay, as a cloud's
// stateful security group keeps established flows).

// changeEndpoint applies change to the caller's endpoint id under
// compare-and-swap; a group it names is read (and rewritten unchanged, so
// the change serializes with the group's deletion) by the change.
func (a *API) changeEndpoint(r *http.Request, id string, change func(ep *model.Endpoint, t *store.Txn) error) (any, error) {
	if _, _, err := getOwned[model.Endpoint](a, r, store.KindEndpoint, id); err != nil {
		return nil, err
	}
	_, err := update(a, r, store.KindEndpoint, id, func(ep *model.Endpoint, t *store.Txn) error {
		if ep.AccountID != callerOf(r).AccountID {
			return model.NotFound(kindNames[store.KindEndpoint], id)
		}
		return change(ep, t)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, model.NotFound(kindNames[store.KindEndpoint], id)
	}
	if err != nil {
		return nil, err
	}
	return a.getEndpointView(r, id)
}

func (a *API) attachEndpointSG(r *http.Request, req api.EndpointSecurityGroupRequest) (any, error) {
	return a.changeEndpoint(r, r.PathValue("id"), func(ep *model.Endpoint, t *store.Txn) error {
		sg, rev, err := getOwned[model.SecurityGroup](a, r, store.KindSG, req.SecurityGroupID)
		if err != nil {
			return err
		}
		if sg.VpcID != ep.VpcID {
			return model.Invalid("SecurityGroupId", "security group %s belongs to %s, not to the endpoint's VPC %s", sg.SecurityGroupID, sg.VpcID, ep.VpcID)
		}
		if slices.Contains(ep.SecurityGroupIDs, sg.SecurityGroupID) {
			return model.Errorf(http.StatusBadRequest, "IncorrectStatus.SecurityGroupAttached", "security group %s is already attached to %s", sg.SecurityGroupID, ep.EndpointID)
		}
		if len(ep.SecurityGroupIDs) >= api.MaxSecurityGroupsPerEndpoint {
			return model.Errorf(http.StatusBadRequest, "QuotaExceeded.SecurityGroupsPerEndpoint", "an endpoint has at most %d security groups", api.MaxSecurityGroupsPerEndpoint)
		}
		t.Touch(a.st.ResourceKey(store.KindSG, sg.SecurityGroupID), rev, sg)
		ep.SecurityGroupIDs = slices.Sorted(slices.Values(append(slices.Clone(ep.SecurityGroupIDs), sg.SecurityGroupID)))
		return nil
	})
}

func (a *API) detachEndpointSG(r *http.Request) (any, error) {
	sgID := r.PathValue("sg")
	return a.changeEndpoint(r, r.PathValue("id"), func(ep *model.Endpoint, _ *store.Txn) error {
		i := slices.Index(ep.SecurityGroupIDs, sgID)
		if i < 0 {
			return model.Errorf(http.StatusBadRequest, "IncorrectStatus.SecurityGroupNotAttached", "security group %s is not attached to %s", sgID, ep.EndpointID)
		}
		if len(ep.SecurityGroupIDs) == 1 {
			return model.Errorf(http.StatusBadRequest, "OperationDenied.LastSecurityGroup", "%s is the endpoint's only security group; attach another first", sgID)
		}
		ep.SecurityGroupIDs = slices.Delete(slices.Clone(ep.SecurityGroupIDs), i, i+1)
		return nil
	})
}

// updateEndpoint changes an endpoint's name and description.
func (a *API) updateEndpoint(r *http.Request, req api.UpdateEndpointRequest) (any, error) {
	return a.changeEndpoint(r, r.PathValue("id"), func(ep *model.Endpoint, _ *store.Txn) error {
		if req.Name != nil {
			ep.Name = *req.Name
		}
		if req.Description != nil {
			ep.Description = *req.Description
		}
		return nil
	})
}
