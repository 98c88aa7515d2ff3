package apiserver

import (
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// zoneResource pins one zone of a connection to one of the service's
// resources in that zone (provider): a backend IP:PORT or an attached
// load balancer. The pinned backends are stored on the endpoint zone; the
// service is rewritten in the same transaction, so the pin serializes with
// a change of the service's resources.
func (a *API) zoneResource(r *http.Request, req api.ZoneResourceRequest) (any, error) {
	id, epID, zone := r.PathValue("id"), r.PathValue("endpoint"), r.PathValue("zone")
	if _, _, err := getOwned[model.EndpointService](a, r, store.KindService, id); err != nil {
		return nil, err
	}
	svcKey := a.st.ResourceKey(store.KindService, id)
	ep, err := update(a, r, store.KindEndpoint, epID, func(ep *model.Endpoint, t *store.Txn) error {
		if ep.ServiceID != id {
			return model.NotFound("EndpointConnection", epID)
		}
		i := slices.IndexFunc(ep.Zones, func(z model.EndpointZone) bool { return z.ZoneID == zone })
		if i < 0 {
			return model.Errorf(http.StatusNotFound, "EndpointZoneNotFound", "endpoint %s has no zone %s", epID, zone)
		}
		svc, srev, err := store.Get[model.EndpointService](r.Context(), a.st, svcKey)
		if err != nil {
			return err
		}
		backends, err := a.resourceBackends(r, svc, zone, req.ResourceID)
		if err != nil {
			return err
		}
		ep.Zones = slices.Clone(ep.Zones)
		ep.Zones[i].ResourceID, ep.Zones[i].ResourceBackends = req.ResourceID, backends
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

// resourceBackends are the backends of svc's resource rid in zone ("":
// none, the zone is unpinned).
func (a *API) resourceBackends(r *http.Request, svc model.EndpointService, zone, rid string) ([]model.Backend, error) {
	if rid == "" {
		return nil, nil
	}
	notFound := model.Errorf(http.StatusNotFound, "ResourceNotFound", "%s is not a resource of %s in zone %s", rid, svc.ServiceID, zone)
	var out []model.Backend
	if strings.HasPrefix(rid, model.PrefixLB) {
		if !slices.Contains(svc.LoadBalancerIDs, rid) {
			return nil, notFound
		}
		lb, _, err := store.Get[model.LoadBalancer](r.Context(), a.st, a.st.ResourceKey(store.KindLB, rid))
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound
		}
		if err != nil {
			return nil, err
		}
		for _, b := range svc.Resources {
			if b.ZoneID == zone && slices.ContainsFunc(lb.Backends, func(l model.Backend) bool { return l.IP == b.IP && l.Port == b.Port }) {
				out = append(out, model.Backend{ZoneID: b.ZoneID, IP: b.IP, Port: b.Port})
			}
		}
	} else {
		ap, err := netip.ParseAddrPort(rid)
		if err != nil || !ap.Addr().Is4() {
			return nil, model.Invalid("ResourceId", "%q is neither a load balancer ID (%s...) nor a backend IPv4:PORT", rid, model.PrefixLB)
		}
		for _, b := range svc.Resources {
			// Port 0 serves every listener port (as the resource listing
			// names it: IP:PORT with the one port).
			if b.ZoneID == zone && b.IP == ap.Addr() && (b.Port == int(ap.Port()) || b.Port == 0 && slices.Contains(svc.Ports, int(ap.Port()))) {
				out = append(out, model.Backend{ZoneID: b.ZoneID, IP: b.IP, Port: b.Port})
			}
		}
	}
	if len(out) == 0 {
		return nil, notFound
	}
	return out, nil
}
