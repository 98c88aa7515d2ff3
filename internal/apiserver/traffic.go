package apiserver

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/traffic"
)

// endpointTraffic serves GET /v1/endpoints/{id}/traffic (the owner's).
func (a *API) endpointTraffic(r *http.Request) (any, error) {
	ep, _, err := getOwned[model.Endpoint](a, r, store.KindEndpoint, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	reps, err := a.trafficReports(r.Context(), ep)
	if err != nil {
		return nil, err
	}
	return endpointTraffic(ep, reps, time.Now(), true), nil
}

// serviceTraffic serves GET /v1/services/{id}/traffic (the provider's):
// every endpoint of the service (whatever its connection status), the
// first api.MaxTrafficEndpoints by ID.
func (a *API) serviceTraffic(r *http.Request) (any, error) {
	svc, _, err := getOwned[model.EndpointService](a, r, store.KindService, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	all, err := store.List[model.Endpoint](r.Context(), a.st, a.st.KindPrefix(store.KindEndpoint))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := api.ServiceTraffic{ServiceID: svc.ServiceID, Endpoints: []api.EndpointTraffic{}}
	var hours, days []model.TrafficSeries
	var checks []model.BackendCheck
	for _, ep := range all { // in key order: by endpoint ID
		if ep.ServiceID != svc.ServiceID {
			continue
		}
		if len(out.Endpoints) == api.MaxTrafficEndpoints {
			out.Truncated = true
			break
		}
		reps, err := a.trafficReports(r.Context(), ep)
		if err != nil {
			return nil, err
		}
		for _, rep := range reps {
			hours, days = append(hours, rep.Hour), append(days, rep.Day)
			checks = append(checks, rep.Backends...)
		}
		out.Endpoints = append(out.Endpoints, endpointTraffic(ep, reps, now, false))
	}
	out.Hour, out.Day = traffic.Hour(now, hours...), traffic.Day(now, days...)
	out.Backends = backendChecks(svc, checks)
	return out, nil
}

// trafficReports reads the live traffic reports of an endpoint's zones.
func (a *API) trafficReports(ctx context.Context, ep model.Endpoint) ([]model.TrafficReport, error) {
	var out []model.TrafficReport
	for _, z := range ep.Zones {
		rep, _, err := store.Get[model.TrafficReport](ctx, a.st, a.st.TrafficKey(z.ZoneID, ep.EndpointID))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			if store.Unavailable(err) {
				return nil, err
			}
			continue // a bad report: logged and counted by the store; show none
		}
		out = append(out, rep)
	}
	return out, nil
}

func endpointTraffic(ep model.Endpoint, reps []model.TrafficReport, now time.Time, zones bool) api.EndpointTraffic {
	et := api.EndpointTraffic{EndpointID: ep.EndpointID, EndpointName: ep.Name, AccountID: ep.AccountID,
		ServiceID: ep.ServiceID, ConnectionStatus: ep.ConnectionStatus}
	var hours, days []model.TrafficSeries
	byZone := map[string]model.TrafficReport{}
	for _, rep := range reps {
		hours, days = append(hours, rep.Hour), append(days, rep.Day)
		et.UpdateTime = max(et.UpdateTime, rep.UpdateTime)
		byZone[rep.ZoneID] = rep
	}
	et.Hour, et.Day = traffic.Hour(now, hours...), traffic.Day(now, days...)
	if zones {
		et.Zones = []api.ZoneTraffic{}
		for _, z := range ep.Zones {
			rep := byZone[z.ZoneID]
			zt := api.ZoneTraffic{ZoneID: z.ZoneID, UpdateTime: rep.UpdateTime, Hour: traffic.Hour(now, rep.Hour),
				Day: traffic.Day(now, rep.Day), Backends: rep.Backends}
			if zt.Backends == nil {
				zt.Backends = []api.BackendCheck{}
			}
			et.Zones = append(et.Zones, zt)
		}
	}
	return et
}

// backendChecks keeps the newest check per zone and backend, and adds an
// unchecked entry for each backend of the service no zone checked, in its
// own zone.
func backendChecks(svc model.EndpointService, checks []model.BackendCheck) []model.BackendCheck {
	newest := map[[2]string]model.BackendCheck{}
	checked := map[string]bool{}
	for _, c := range checks {
		k := [2]string{c.ZoneID, c.Backend}
		if old, ok := newest[k]; !ok || c.CheckTime > old.CheckTime {
			newest[k] = c
		}
		checked[c.Backend] = true
	}
	for _, b := range svc.Resources {
		port := b.Port
		if port == 0 && len(svc.Ports) > 0 {
			port = svc.Ports[0]
		}
		addr := netip.AddrPortFrom(b.IP, uint16(port)).String()
		if !checked[addr] {
			newest[[2]string{b.ZoneID, addr}] = model.BackendCheck{ZoneID: b.ZoneID, Backend: addr}
		}
	}
	out := make([]model.BackendCheck, 0, len(newest))
	for _, c := range newest {
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y model.BackendCheck) int {
		if c := strings.Compare(x.ZoneID, y.ZoneID); c != 0 {
			return c
		}
		return strings.Compare(x.Backend, y.Backend)
	})
	return out
}
