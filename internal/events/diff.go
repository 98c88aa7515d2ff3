package events

import (
	"fmt"
	"slices"
	"strings"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Diff returns the events of the change from prev to next, in a
// deterministic order, without IDs or times (the caller assigns them).
func Diff(prev, next *store.State) []model.Event {
	var out []model.Event
	add := func(typ string, svc *model.EndpointService, ep *model.Endpoint, e model.Event) {
		e.EventType = typ
		if svc != nil {
			e.ServiceID = svc.ServiceID
			e.AccountIDs = append(e.AccountIDs, svc.AccountID)
		}
		if ep != nil {
			e.EndpointID = ep.EndpointID
			if e.ServiceID == "" {
				e.ServiceID = ep.ServiceID
			}
			if !slices.Contains(e.AccountIDs, ep.AccountID) {
				e.AccountIDs = append(e.AccountIDs, ep.AccountID)
			}
		}
		out = append(out, e)
	}
	service := func(id string) *model.EndpointService {
		if s := next.Services[id]; s != nil {
			return s
		}
		return prev.Services[id]
	}

	eps := store.TouchedEndpoints(prev, next)
	// each visits the endpoints of m that may have events: the touched
	// ones, or all (a pass over 10,000 per change otherwise).
	each := func(m map[string]*model.Endpoint, f func(id string, ep *model.Endpoint)) {
		if eps == nil {
			for id, ep := range m {
				f(id, ep)
			}
			return
		}
		for id := range eps {
			if ep := m[id]; ep != nil {
				f(id, ep)
			}
		}
	}
	each(next.Endpoints, func(id string, ep *model.Endpoint) {
		svc := service(ep.ServiceID)
		old := prev.Endpoints[id]
		if old == nil {
			add(model.EventConnectionRequested, svc, ep, model.Event{Message: "endpoint " + id + " asks to connect"})
			if ep.ConnectionStatus == model.ConnConnected {
				add(model.EventAccepted, svc, ep, model.Event{Message: "connection accepted automatically"})
			}
		} else if old.ConnectionStatus != ep.ConnectionStatus {
			switch ep.ConnectionStatus {
			case model.ConnConnected:
				add(model.EventAccepted, svc, ep, model.Event{Message: "connection accepted"})
			case model.ConnRejected, model.ConnDisconnected:
				// The API disconnects a Pending connection to reject it.
				if old.ConnectionStatus == model.ConnPending {
					add(model.EventRejected, svc, ep, model.Event{Message: "connection rejected"})
				} else {
					add(model.EventDisconnected, svc, ep, model.Event{Message: "connection disconnected (was " + old.ConnectionStatus + ")"})
				}
			}
		}
		if ep.EndpointStatus == model.StatusActive && (old == nil || old.EndpointStatus != model.StatusActive) {
			add(model.EventEndpointActive, svc, ep, model.Event{Message: "endpoint active"})
		}
		if old != nil {
			zoneEvents(prev, next, old, ep, func(typ, zone, msg string) {
				add(typ, svc, ep, model.Event{ZoneID: zone, Message: msg})
			})
		}
		backendEvents(prev, next, ep, func(typ, zone, backend string) {
			add(typ, svc, nil, model.Event{EndpointID: id, ZoneID: zone, Backend: backend,
				Message: "backend " + backend + " as checked from " + zone})
		})
	})
	each(prev.Endpoints, func(id string, ep *model.Endpoint) {
		if next.Endpoints[id] == nil && !next.Bad(store.KindEndpoint, id) {
			add(model.EventEndpointDeleted, service(ep.ServiceID), ep, model.Event{Message: "endpoint deleted"})
		}
	})
	for id, svc := range prev.Services {
		if next.Services[id] != nil || next.Bad(store.KindService, id) {
			continue
		}
		e := model.Event{Message: "service " + svc.Name + " deleted"}
		for _, ep := range prev.Endpoints {
			if ep.ServiceID == id && !slices.Contains(e.AccountIDs, ep.AccountID) && ep.AccountID != svc.AccountID {
				e.AccountIDs = append(e.AccountIDs, ep.AccountID)
			}
		}
		add(model.EventServiceDeleted, svc, nil, e)
	}
	for id, n := range next.Notifications {
		if old := prev.Notifications[id]; old != nil && old.Status == model.NotificationEnabled && n.Status == model.NotificationDisabled {
			out = append(out, model.Event{EventType: model.EventNotificationDisabled, AccountIDs: []string{n.AccountID},
				NotificationID: id, ServiceID: n.ServiceID, EndpointID: n.EndpointID,
				Message: fmt.Sprintf("disabled after %d failed deliveries; last: %s", n.Delivery.Failures, n.Delivery.LastError)})
		}
	}
	for id, h := range next.QuotaHits {
		if prev.QuotaHits[id] == nil {
			out = append(out, model.Event{EventType: model.EventQuotaExceeded, AccountIDs: []string{h.AccountID},
				Message: h.Code + ": " + h.Message})
		}
	}
	return sorted(out)
}

// sorted orders events by sortKey, each key made once (a restart's
// diff holds an event per endpoint zone: 10,000 and more).
func sorted(evs []model.Event) []model.Event {
	type keyed struct {
		k string
		e model.Event
	}
	ks := make([]keyed, len(evs))
	for i, e := range evs {
		ks[i] = keyed{sortKey(e), e}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return strings.Compare(a.k, b.k) })
	for i := range ks {
		evs[i] = ks[i].e
	}
	return evs
}

func sortKey(e model.Event) string {
	return e.NotificationID + "\x00" + e.EndpointID + "\x00" + e.ServiceID + "\x00" + e.ZoneID + "\x00" + e.Backend + "\x00" + e.EventType
}

// zoneEvents reports endpoint zones that became Unavailable, or left it.
func zoneEvents(prev, next *store.State, old, ep *model.Endpoint, emit func(typ, zone, msg string)) {
	for _, z := range ep.Zones {
		was, is := prev.ZoneStatus(old, z.ZoneID), next.ZoneStatus(ep, z.ZoneID)
		switch {
		case was != model.ZoneUnavailable && is == model.ZoneUnavailable:
			msg := "zone agent gone"
			if r := next.Report(z.ZoneID, ep.EndpointID); r != nil && r.Error != "" {
				msg = r.Error
			}
			emit(model.EventZoneUnavailable, z.ZoneID, msg)
		case was == model.ZoneUnavailable && model.ZoneReady(is):
			emit(model.EventZoneAvailable, z.ZoneID, "zone serves again")
		}
	}
}

// backendEvents reports backends whose health, as a zone checks it, changed
// (a backend first seen unhealthy counts as a change).
func backendEvents(prev, next *store.State, ep *model.Endpoint, emit func(typ, zone, backend string)) {
	for _, z := range ep.Zones {
		rep := next.Report(z.ZoneID, ep.EndpointID)
		if rep == nil {
			continue
		}
		var before map[string]bool
		if p := prev.Report(z.ZoneID, ep.EndpointID); p != nil {
			before = p.Backends
		}
		for b, healthy := range rep.Backends {
			was, known := before[b]
			switch {
			case healthy && known && !was:
				emit(model.EventBackendHealthy, z.ZoneID, b)
			case !healthy && (!known || was):
				emit(model.EventBackendUnhealthy, z.ZoneID, b)
			}
		}
	}
}
