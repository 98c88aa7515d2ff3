package apiserver

import (
	"encoding/json"
	"net/http"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

func (a *API) allowAccount(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.AllowRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if !model.ValidAccountID(req.AccountID) {
		return nil, model.Invalid("AccountId", "%q is not a 16-digit account ID", req.AccountID)
	}
	if _, _, err := store.Get[model.Account](r.Context(), a.st, a.st.Key(store.KindAccount, req.AccountID)); err == store.ErrNotFound {
		return nil, model.NotFound("Account", req.AccountID)
	} else if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	if _, _, err := getOwned(a, r, store.KindService, "EndpointService", id, svcOwner); err != nil {
		return nil, err
	}
	return update(a, r, a.st.Key(store.KindService, id), func(s *model.EndpointService) (guard, error) {
		if !slices.Contains(s.AllowedAccounts, req.AccountID) {
			s.AllowedAccounts = append(s.AllowedAccounts, req.AccountID)
		}
		return guard{}, nil
	})
}

// disallowAccount removes an account and disconnects its endpoints in the
// same transaction, so their traffic stops.
func (a *API) disallowAccount(w http.ResponseWriter, r *http.Request) (any, error) {
	id, acct := r.PathValue("id"), r.PathValue("account")
	if _, _, err := getOwned(a, r, store.KindService, "EndpointService", id, svcOwner); err != nil {
		return nil, err
	}
	return update(a, r, a.st.Key(store.KindService, id), func(s *model.EndpointService) (guard, error) {
		i := slices.Index(s.AllowedAccounts, acct)
		if i < 0 {
			return guard{}, model.Errorf(http.StatusNotFound, "AllowedAccountNotFound", "account %s is not on the allow-list of %s", acct, id)
		}
		s.AllowedAccounts = slices.Delete(s.AllowedAccounts, i, i+1)
		return a.disconnectGuard(r, id, acct)
	})
}

// disconnectGuard marks the account's endpoints of a service Disconnected,
// each guarded by its mod revision: an endpoint deleted or changed
// meanwhile makes the whole transaction retry instead of being rewritten.
func (a *API) disconnectGuard(r *http.Request, svcID, acct string) (guard, error) {
	resp, err := a.st.Client().Get(r.Context(), a.st.Key(store.KindEndpoint), clientv3.WithPrefix())
	if err != nil {
		return guard{}, internal("list endpoints: %w", err)
	}
	var g guard
	for _, kv := range resp.Kvs {
		var ep model.Endpoint
		if json.Unmarshal(kv.Value, &ep) != nil || ep.ServiceID != svcID || ep.AccountID != acct || ep.ConnectionStatus == model.ConnDisconnected {
			continue
		}
		ep.ConnectionStatus = model.ConnDisconnected
		key := string(kv.Key)
		g.cmps = append(g.cmps, clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision))
		g.ops = append(g.ops, clientv3.OpPut(key, store.MustJSON(ep)))
	}
	return g, nil
}

func (a *API) listConnections(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if _, _, err := getOwned(a, r, store.KindService, "EndpointService", id, svcOwner); err != nil {
		return nil, err
	}
	eps, _, err := store.List[model.Endpoint](r.Context(), a.st, a.st.Key(store.KindEndpoint))
	if err != nil {
		return nil, err
	}
	ls, err := a.liveStatus(r)
	if err != nil {
		return nil, err
	}
	var out []api.Connection
	for _, ep := range eps {
		if ep.ServiceID == id {
			ep = ls.view(ep)
			out = append(out, api.Connection{EndpointID: ep.EndpointID, EndpointOwnerID: ep.AccountID, ServiceID: id, VpcID: ep.VpcID,
				ConnectionStatus: ep.ConnectionStatus, Zones: ep.Zones, CreateTime: ep.CreateTime})
		}
	}
	return paginate(r, out, func(c api.Connection) string { return c.EndpointID })
}

func (a *API) acceptConnection(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.setConnection(r, model.ConnConnected)
}

func (a *API) rejectConnection(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.setConnection(r, model.ConnDisconnected)
}

// setConnection accepts (Connected) or rejects (Disconnected) a connection.
// Accepting requires the endpoint's account to still be allowed, checked
// against the service's revision in the same transaction.
func (a *API) setConnection(r *http.Request, to string) (any, error) {
	id, epID := r.PathValue("id"), r.PathValue("endpoint")
	if _, _, err := getOwned(a, r, store.KindService, "EndpointService", id, svcOwner); err != nil {
		return nil, err
	}
	svcKey := a.st.Key(store.KindService, id)
	ep, err := update(a, r, a.st.Key(store.KindEndpoint, epID), func(ep *model.Endpoint) (guard, error) {
		if ep.ServiceID != id {
			return guard{}, model.NotFound("EndpointConnection", epID)
		}
		svc, srev, err := store.Get[model.EndpointService](r.Context(), a.st, svcKey)
		if err != nil {
			return guard{}, err
		}
		if to == model.ConnConnected && ep.AccountID != svc.AccountID && !slices.Contains(svc.AllowedAccounts, ep.AccountID) {
			return guard{}, model.Errorf(http.StatusForbidden, "OperationDenied.NotAllowListed",
				"account %s is not on the allow-list of %s; allow it before accepting its endpoint", ep.AccountID, id)
		}
		ep.ConnectionStatus = to
		return guard{cmps: []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(svcKey), "=", srev)}}, nil
	})
	if err == store.ErrNotFound {
		return nil, model.NotFound("EndpointConnection", epID)
	}
	if err != nil {
		return nil, err
	}
	return api.Connection{EndpointID: ep.EndpointID, EndpointOwnerID: ep.AccountID, ServiceID: id, VpcID: ep.VpcID,
		ConnectionStatus: ep.ConnectionStatus, Zones: ep.Zones, CreateTime: ep.CreateTime}, nil
}
