package apiserver

import (
	"net/http"
	"net/netip"
	"slices"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// An endpoint's zones can change after its creation: a zone is added with
// an ENI on one of the VPC's vSwitches there (the address claimed in the
// same transaction), or removed with its address released; one zone always
// stays. The zone agents create or remove the ENI and its listeners; the
// resolver publishes a zone once it is Connected.

func (a *API) addEndpointZone(r *http.Request, req api.EndpointZoneRequest) (any, error) {
	if err := a.checkZone("ZoneId", req.ZoneID); err != nil {
		return nil, err
	}
	return a.changeEndpoint(r, r.PathValue("id"), func(ep *model.Endpoint, t *store.Txn) error {
		if ep.EndpointStatus == model.StatusDeleting {
			return model.Errorf(http.StatusBadRequest, "IncorrectStatus.Endpoint", "endpoint %s is being deleted", ep.EndpointID)
		}
		if slices.ContainsFunc(ep.Zones, func(z model.EndpointZone) bool { return z.ZoneID == req.ZoneID }) {
			return model.Errorf(http.StatusBadRequest, "IncorrectStatus.ZoneExists", "endpoint %s is already in zone %s", ep.EndpointID, req.ZoneID)
		}
		if len(ep.Zones) >= api.MaxZonesPerEndpoint {
			return model.Errorf(http.StatusBadRequest, "QuotaExceeded.ZonesPerEndpoint", "an endpoint spans at most %d zones", api.MaxZonesPerEndpoint)
		}
		svc, srev, err := store.Get[model.EndpointService](r.Context(), a.st, a.st.ResourceKey(store.KindService, ep.ServiceID))
		if err != nil {
			return model.Errorf(http.StatusBadRequest, "IncorrectStatus.ServiceDeleted", "the service of endpoint %s is gone", ep.EndpointID)
		}
		if !slices.Contains(svc.Zones, req.ZoneID) {
			return model.Errorf(http.StatusBadRequest, "InvalidZoneId.NotSupportedByService", "service %s is not available in zone %s; its zones are %v", svc.Name, req.ZoneID, svc.Zones)
		}
		vsw, _, err := getOwned[model.VSwitch](a, r, store.KindVSwitch, req.VSwitchID)
		if err != nil {
			return err
		}
		if vsw.VpcID != ep.VpcID {
			return model.Invalid("VSwitchId", "vSwitch %s belongs to %s, not to the endpoint's VPC %s", vsw.VSwitchID, vsw.VpcID, ep.VpcID)
		}
		if vsw.ZoneID != req.ZoneID {
			return model.Invalid("VSwitchId", "vSwitch %s is in zone %s, not in %s", vsw.VSwitchID, vsw.ZoneID, req.ZoneID)
		}
		var want netip.Addr
		if req.IP != "" {
			if want, err = netip.ParseAddr(req.IP); err != nil || !want.Is4() {
				return model.Invalid("Ip", "%q is not an IPv4 address", req.IP)
			}
		}
		al, err := a.newAllocator(r.Context(), vsw)
		if err != nil {
			return err
		}
		ip, err := al.take("Ip", want)
		if err != nil {
			return err
		}
		eni := model.NewID(model.PrefixENI)
		a.claim(t, vsw.VSwitchID, ip, eni)
		snat, err := a.claimSNAT(a.snatAllocator(r), t, eni)
		if err != nil {
			return err
		}
		ip6, err := a.takeENIIPv6(r.Context(), t, &svc, vsw, req.Ipv6Address, eni)
		if err != nil {
			return err
		}
		t.Unchanged(a.st.ResourceKey(store.KindService, svc.ServiceID), srev)
		ep.Zones = append(slices.Clone(ep.Zones), model.EndpointZone{ZoneID: req.ZoneID, VSwitchID: vsw.VSwitchID, IP: ip, Ipv6Address: ip6, EniID: eni,
			ZoneDomain: a.naming.ZoneDomain(ep.EndpointID, req.ZoneID, svc.ServiceID), ZoneStatus: model.ZoneCreating, SnatIP: snat})
		return nil
	})
}

func (a *API) removeEndpointZone(r *http.Request) (any, error) {
	zone := r.PathValue("zone")
	return a.changeEndpoint(r, r.PathValue("id"), func(ep *model.Endpoint, t *store.Txn) error {
		i := slices.IndexFunc(ep.Zones, func(z model.EndpointZone) bool { return z.ZoneID == zone })
		if i < 0 {
			return model.Errorf(http.StatusBadRequest, "IncorrectStatus.ZoneNotFound", "endpoint %s is not in zone %s", ep.EndpointID, zone)
		}
		if len(ep.Zones) == 1 {
			return model.Errorf(http.StatusBadRequest, "OperationDenied.LastZone", "zone %s is the endpoint's only zone; add another first, or delete the endpoint", zone)
		}
		a.releaseZoneIPs(t, ep.Zones[i])
		ep.Zones = slices.Delete(slices.Clone(ep.Zones), i, i+1)
		return nil
	})
}
