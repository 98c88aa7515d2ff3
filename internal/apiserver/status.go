package apiserver

import (
	"net/http"
	"net/netip"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// liveStatus is the zone agents' reports and liveness (and any other kinds
// asked for), read fresh from the store for one response.
type liveStatus struct{ *store.State }

func (a *API) liveStatus(r *http.Request, kinds ...string) (liveStatus, error) {
	st, err := a.st.ReadState(r.Context(), append(kinds, store.KindReport, store.KindAgent, store.KindNode, store.KindENIPlace)...)
	return liveStatus{st}, err
}

// view fills each zone's status from the live reports (model.ZoneStatus).
func (ls liveStatus) view(ep model.Endpoint) model.Endpoint {
	ep.Zones = append([]model.EndpointZone{}, ep.Zones...) // [] rather than null for an endpoint with no zone
	for i := range ep.Zones {
		ep.Zones[i].ZoneStatus = ls.ZoneStatus(&ep, ep.Zones[i].ZoneID)
	}
	return ep
}

// backendHealth fills each backend's Health from the reports on endpoints
// of this service (ls must hold the endpoints): Healthy if any live agent
// sees it healthy, Unhealthy if agents check it and none does, Unknown
// otherwise.
func (ls liveStatus) backendHealth(s *model.EndpointService) {
	for i := range s.Resources {
		b := &s.Resources[i]
		port := b.Port
		if port == 0 && len(s.Ports) > 0 {
			port = s.Ports[0]
		}
		addr := netip.AddrPortFrom(b.IP, uint16(port)).String()
		b.Health = "Unknown"
		for _, rep := range ls.Reports {
			if !ls.ReportLive(rep) || ls.Endpoints[rep.EndpointID] == nil || ls.Endpoints[rep.EndpointID].ServiceID != s.ServiceID {
				continue
			}
			if ok, checked := rep.Backends[addr]; checked {
				if ok {
					b.Health = "Healthy"
					break
				}
				b.Health = "Unhealthy"
			}
		}
	}
}
