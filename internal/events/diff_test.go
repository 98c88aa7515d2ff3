package events_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/privlink/privlink/internal/events"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

const (
	provider = "1000000000000001"
	consumer = "1000000000000002"
)

// state builds a State: the service, the endpoint (nil: none) with one zone
// "z", the zone's agent alive or not, and its report (nil: none).
func state(svc bool, ep *model.Endpoint, agent bool, rep *model.ZoneReport) *store.State {
	s := &store.State{Services: map[string]*model.EndpointService{}, Endpoints: map[string]*model.Endpoint{},
		Reports: map[string]*model.ZoneReport{}, Agents: map[string]*model.AgentInfo{}, Notifications: map[string]*model.Notification{}}
	if svc {
		s.Services["epsrv-1"] = &model.EndpointService{ServiceID: "epsrv-1", AccountID: provider, Name: "svc"}
	}
	if ep != nil {
		s.Endpoints[ep.EndpointID] = ep
	}
	if agent {
		s.Agents["z"] = &model.AgentInfo{ZoneID: "z"}
	}
	if rep != nil {
		s.Reports["z/ep-1"] = rep
	}
	return s
}

func ep(status, conn string) *model.Endpoint {
	return &model.Endpoint{EndpointID: "ep-1", AccountID: consumer, ServiceID: "epsrv-1", EndpointStatus: status, ConnectionStatus: conn,
		Zones: []model.EndpointZone{{ZoneID: "z"}}}
}

func report(backends map[string]bool, errMsg string) *model.ZoneReport {
	return &model.ZoneReport{EndpointID: "ep-1", ZoneID: "z", Ready: true, Backends: backends, Error: errMsg}
}

// TestDiff: which transitions are events, and whom they concern.
func TestDiff(t *testing.T) {
	active, pending := model.StatusActive, model.ConnPending
	conn, disc := model.ConnConnected, model.ConnDisconnected
	up := map[string]bool{"10.0.0.1:80": true}
	down := map[string]bool{"10.0.0.1:80": false}
	both := []string{provider, consumer}
	cases := []struct {
		name       string
		prev, next *store.State
		want       []string // "Type accounts"
	}{
		{"nothing", state(true, ep(active, conn), true, report(up, "")), state(true, ep(active, conn), true, report(up, "")), nil},
		{"requested", state(true, nil, true, nil), state(true, ep(model.StatusCreating, pending), true, nil),
			[]string{"ConnectionRequested " + fmt.Sprint(both)}},
		{"auto-accepted", state(true, nil, true, nil), state(true, ep(model.StatusCreating, conn), true, nil),
			[]string{"Accepted " + fmt.Sprint(both), "ConnectionRequested " + fmt.Sprint(both)}},
		{"accepted", state(true, ep(active, pending), true, nil), state(true, ep(active, conn), true, nil), []string{"Accepted " + fmt.Sprint(both)}},
		{"rejected", state(true, ep(active, pending), true, nil), state(true, ep(active, disc), true, nil), []string{"Rejected " + fmt.Sprint(both)}},
		{"disconnected", state(true, ep(active, conn), true, nil), state(true, ep(active, disc), true, nil), []string{"Disconnected " + fmt.Sprint(both)}},
		{"active", state(true, ep(model.StatusCreating, conn), true, nil), state(true, ep(active, conn), true, nil), []string{"EndpointActive " + fmt.Sprint(both)}},
		{"agent gone", state(true, ep(active, conn), true, report(up, "")), state(true, ep(active, conn), false, nil),
			[]string{"ZoneUnavailable " + fmt.Sprint(both)}},
		{"agent error", state(true, ep(active, conn), true, report(up, "")), state(true, ep(active, conn), true, report(up, "ENI lost")),
			[]string{"ZoneUnavailable " + fmt.Sprint(both)}},
		{"agent back", state(true, ep(active, conn), false, nil), state(true, ep(active, conn), true, report(up, "")),
			[]string{"ZoneAvailable " + fmt.Sprint(both)}},
		{"backend down", state(true, ep(active, conn), true, report(up, "")), state(true, ep(active, conn), true, report(down, "")),
			[]string{"BackendUnhealthy [" + provider + "]"}},
		{"backend up", state(true, ep(active, conn), true, report(down, "")), state(true, ep(active, conn), true, report(up, "")),
			[]string{"BackendHealthy [" + provider + "]"}},
		{"backend first seen down", state(true, ep(active, conn), true, nil), state(true, ep(active, conn), true, report(down, "")),
			[]string{"BackendUnhealthy [" + provider + "]"}},
		{"endpoint deleted", state(true, ep(active, disc), true, nil), state(true, nil, true, nil), []string{"EndpointDeleted " + fmt.Sprint(both)}},
		{"service deleted with its endpoint", state(true, ep(active, disc), true, nil), state(false, nil, true, nil),
			[]string{"EndpointDeleted " + fmt.Sprint(both), "ServiceDeleted [" + consumer + " " + provider + "]"}},
	}
	for _, tc := range cases {
		var got []string
		for _, e := range events.Diff(tc.prev, tc.next) {
			got = append(got, e.EventType+" "+fmt.Sprint(e.AccountIDs))
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
