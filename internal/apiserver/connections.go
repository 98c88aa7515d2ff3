package apiserver

import (
	"errors"
	"net/http"
	"slices"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

func (a *API) allowAccount(r *http.Request, req api.AllowRequest) (any, error) {
	if !model.ValidAccountID(req.AccountID) {
		return nil, model.Invalid("AccountId", "%q is not a 16-digit account ID", req.AccountID)
	}
	if _, _, err := store.Get[model.Account](r.Context(), a.st, a.st.ResourceKey(store.KindAccount, req.AccountID)); err == store.ErrNotFound {
		return nil, model.NotFound("Account", req.AccountID)
	} else if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	if _, _, err := getOwned[model.EndpointService](a, r, store.KindService, id); err != nil {
		return nil, err
	}
	return update(a, r, store.KindService, id, func(s *model.EndpointService, _ *store.Txn) error {
		if !slices.Contains(s.AllowedAccounts, req.AccountID) {
			if len(s.AllowedAccounts) >= api.MaxAllowedAccounts {
				return allowListFull()
			}
			s.AllowedAccounts = append(s.AllowedAccounts, req.AccountID)
		}
		return nil
	})
}

// disallowAccount removes an account from the allow-list and disconnects
// its endpoints: the first transaction changes the allow-list (from then
// on no create or accept admits the account, and agents and the resolver
// serve none of its endpoints) with the first batch of endpoints, the next
// ones disconnect the rest (revoke.go). It returns once none is left.
func (a *API) disallowAccount(r *http.Request) (any, error) {
	id, acct := r.PathValue("id"), r.PathValue("account")
	if _, _, err := getOwned[model.EndpointService](a, r, store.KindService, id); err != nil {
		return nil, err
	}
	svc, err := update(a, r, store.KindService, id, func(s *model.EndpointService, t *store.Txn) error {
		i := slices.Index(s.AllowedAccounts, acct)
		if i < 0 {
			return model.Errorf(http.StatusNotFound, "AllowedAccountNotFound", "account %s is not on the allow-list of %s", acct, id)
		}
		s.AllowedAccounts = slices.Delete(s.AllowedAccounts, i, i+1)
		return a.disconnectFirst(r, t, id, acct)
	})
	if err != nil {
		return nil, err
	}
	if err := a.disconnectRest(r, id, acct); err != nil {
		return nil, err
	}
	return svc, nil
}

// listConnections lists one page of a service's endpoints through the
// service's endpoint index (O(page)), with the page's live status.
func (a *API) listConnections(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if _, _, err := getOwned[model.EndpointService](a, r, store.KindService, id); err != nil {
		return nil, err
	}
	page, err := indexPage[model.Endpoint](a, r, a.st.ServiceEndpointsPrefix(id), store.KindEndpoint)
	if err != nil {
		return nil, err
	}
	st, err := a.st.ReadZoneStatuses(r.Context(), page.Items)
	if err != nil {
		return nil, err
	}
	out := api.List[api.Connection]{Items: make([]api.Connection, 0, len(page.Items)), NextToken: page.NextToken, TotalCount: page.TotalCount}
	for _, ep := range page.Items {
		out.Items = append(out.Items, connection(liveStatus{st}.view(ep)))
	}
	return out, nil
}

func (a *API) acceptConnection(r *http.Request) (any, error) {
	return a.setConnection(r, model.ConnConnected)
}

func (a *API) rejectConnection(r *http.Request) (any, error) {
	return a.setConnection(r, model.ConnDisconnected)
}

// setConnection accepts (Connected) or rejects (Disconnected) a connection.
// Accepting requires the endpoint's account to still be allowed, checked
// against the service's revision in the same transaction.
func (a *API) setConnection(r *http.Request, to string) (any, error) {
	id, epID := r.PathValue("id"), r.PathValue("endpoint")
	if _, _, err := getOwned[model.EndpointService](a, r, store.KindService, id); err != nil {
		return nil, err
	}
	svcKey := a.st.ResourceKey(store.KindService, id)
	ep, err := update(a, r, store.KindEndpoint, epID, func(ep *model.Endpoint, t *store.Txn) error {
		if ep.ServiceID != id {
			return model.NotFound("EndpointConnection", epID)
		}
		svc, srev, err := store.Get[model.EndpointService](r.Context(), a.st, svcKey)
		if err != nil {
			return err
		}
		if to == model.ConnConnected && !svc.Admits(ep.AccountID) {
			return model.Errorf(http.StatusForbidden, "OperationDenied.NotAllowListed",
				"account %s is not on the allow-list of %s; allow it before accepting its endpoint", ep.AccountID, id)
		}
		ep.ConnectionStatus = to
		// The service is rewritten, not only compared: an accept then
		// serializes with the service's deletion, which guards only the
		// service's revision for endpoints beyond its first batch.
		t.Touch(svcKey, srev, svc)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, model.NotFound("EndpointConnection", epID)
	}
	if err != nil {
		return nil, err
	}
	return connection(ep), nil
}

// connection is the provider's view of an endpoint.
func connection(ep model.Endpoint) api.Connection {
	return api.Connection{EndpointID: ep.EndpointID, EndpointOwnerID: ep.AccountID, ServiceID: ep.ServiceID, VpcID: ep.VpcID,
		ConnectionStatus: ep.ConnectionStatus, Zones: ep.Zones, CreateTime: ep.CreateTime, Bandwidth: ep.ConnectionBandwidth}
}

// zoneConnection disables or enables one zone of a connection (provider).
func (a *API) zoneConnection(disable bool) handlerFunc {
	return func(r *http.Request) (any, error) {
		id, epID, zone := r.PathValue("id"), r.PathValue("endpoint"), r.PathValue("zone")
		if _, _, err := getOwned[model.EndpointService](a, r, store.KindService, id); err != nil {
			return nil, err
		}
		ep, err := update(a, r, store.KindEndpoint, epID, func(ep *model.Endpoint, _ *store.Txn) error {
			if ep.ServiceID != id {
				return model.NotFound("EndpointConnection", epID)
			}
			for i := range ep.Zones {
				if ep.Zones[i].ZoneID == zone {
					ep.Zones[i].ConnectionDisabled = disable
					return nil
				}
			}
			return model.Errorf(http.StatusNotFound, "EndpointZoneNotFound", "endpoint %s has no zone %s", epID, zone)
		})
		if errors.Is(err, store.ErrNotFound) {
			return nil, model.NotFound("EndpointConnection", epID)
		}
		if err != nil {
			return nil, err
		}
		return connection(ep), nil
	}
}

// updateConnection sets the provider's bandwidth cap for one endpoint of
// its service.
func (a *API) updateConnection(r *http.Request, req api.UpdateConnectionRequest) (any, error) {
	id, epID := r.PathValue("id"), r.PathValue("endpoint")
	if b := req.Bandwidth; b != nil && (*b < 0 || *b > api.MaxBandwidthMbps) {
		return nil, model.Invalid("Bandwidth", "bandwidth must be 0 (the service's connectBandwidth) to %d Mbps", api.MaxBandwidthMbps)
	}
	if _, _, err := getOwned[model.EndpointService](a, r, store.KindService, id); err != nil {
		return nil, err
	}
	ep, err := update(a, r, store.KindEndpoint, epID, func(ep *model.Endpoint, _ *store.Txn) error {
		if ep.ServiceID != id {
			return model.NotFound("EndpointConnection", epID)
		}
		setIf(&ep.ConnectionBandwidth, req.Bandwidth)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, model.NotFound("EndpointConnection", epID)
	}
	if err != nil {
		return nil, err
	}
	return connection(ep), nil
}
