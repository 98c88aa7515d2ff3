package events_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

var bg = context.Background()

// lifecycle runs a connection through its life on e: a second endpoint is
// rejected while Pending; the scenario's endpoint is accepted, goes
// Active, is disconnected and deleted; then the service is deleted.
func lifecycle(t *testing.T, e *testenv.Env) (*testenv.Scenario, string) {
	t.Helper()
	sc := testenv.BuildScenario(t, e, testenv.ScenarioOptions{})
	ep2, err := sc.Consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: sc.Service.ServiceID, VpcID: sc.ConsumerVPC.VpcID,
		SecurityGroupIDs: []string{sc.SG.SecurityGroupID}, Name: "second",
		Zones: []api.EndpointZoneRequest{{ZoneID: sc.ConsumerVSwitches[0].ZoneID, VSwitchID: sc.ConsumerVSwitches[0].VSwitchID}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Provider.RejectConnection(bg, sc.Service.ServiceID, ep2.EndpointID); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Provider.AcceptConnection(bg, sc.Service.ServiceID, sc.Endpoint.EndpointID); err != nil {
		t.Fatal(err)
	}
	sc.WaitEndpoint(t, func(ep model.Endpoint) bool { return client.Active(ep) && ep.ConnectionStatus == model.ConnConnected })
	// No backend listens in this scenario: the agents' checks say so.
	waitEvents(t, sc.Provider, client.EventFilter{Type: model.EventBackendUnhealthy}, model.EventBackendUnhealthy+" "+sc.Endpoint.EndpointID)
	if _, err := sc.Provider.RejectConnection(bg, sc.Service.ServiceID, sc.Endpoint.EndpointID); err != nil {
		t.Fatal(err)
	}
	sc.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.ConnectionStatus == model.ConnDisconnected })
	for _, id := range []string{sc.Endpoint.EndpointID, ep2.EndpointID} {
		if _, err := sc.Consumer.DeleteEndpoint(bg, id); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, "service deleted", func() error {
		_, err := sc.Provider.DeleteService(bg, sc.Service.ServiceID)
		return err
	})
	return sc, ep2.EndpointID
}

// kinds is "type endpointId" of each event, in order.
func kinds(evs []api.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.EventType+" "+e.EndpointID)
	}
	return out
}

// waitEvents polls c's events until want's last entry shows up.
func waitEvents(t *testing.T, c *client.Client, f client.EventFilter, last string) []api.Event {
	t.Helper()
	var evs []api.Event
	testenv.Eventually(t, "event "+last, func() error {
		var err error
		if evs, err = c.ListEvents(bg, f); err != nil {
			return err
		}
		if !slices.Contains(kinds(evs), last) {
			return fmt.Errorf("no %q in %v", last, kinds(evs))
		}
		return nil
	})
	return evs
}

// TestEventsOfALifecycle: every change of a connection's life becomes one
// event, in order, readable by the provider and the consumer and by no
// third account; filters narrow the list; two servers on one etcd write
// each event once; the SSE stream, broken and resumed with
// Last-Event-ID, delivers exactly the listed events.
func TestEventsOfALifecycle(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	// A second server on the same etcd runs the events controller too.
	testenv.Start(t, testenv.Options{Network: "loopback", EtcdEndpoints: []string{e.EtcdURL()}, AgentZones: []string{}})

	// The consumer's stream, broken after 3 events, is resumed below.
	consumerStream := make(chan api.Event, 100)
	sctx, scancel := context.WithCancel(bg)
	defer scancel()

	sc, ep2 := lifecycle(t, e)
	ep1, svc := sc.Endpoint.EndpointID, sc.Service.ServiceID
	go func() {
		n := 0
		_ = sc.Consumer.FollowEvents(sctx, client.EventFilter{}, func(ev api.Event) error {
			consumerStream <- ev
			if n++; n == 3 {
				return errors.New("break the stream")
			}
			return nil
		})
	}()

	// Per resource, in this order, exactly once (backend health and the
	// endpoints turning Active interleave by timing and are checked apart).
	want := [][]string{
		{model.EventConnectionRequested + " " + ep1, model.EventAccepted + " " + ep1, model.EventDisconnected + " " + ep1, model.EventEndpointDeleted + " " + ep1},
		{model.EventConnectionRequested + " " + ep2, model.EventRejected + " " + ep2, model.EventEndpointDeleted + " " + ep2},
		{model.EventEndpointActive + " " + ep1, model.EventEndpointDeleted + " " + ep1},
	}
	prov := waitEvents(t, sc.Provider, client.EventFilter{}, model.EventServiceDeleted+" ")
	got := kinds(prov)
	if got[len(got)-1] != model.EventServiceDeleted+" " {
		t.Errorf("ServiceDeleted is not the last event: %v", got)
	}
	for _, seq := range want {
		var sub []string
		for _, k := range got {
			if slices.Contains(seq, k) {
				sub = append(sub, k)
			}
		}
		if seq[0] == model.EventEndpointActive+" "+ep1 {
			sub = slices.DeleteFunc(sub, func(k string) bool { return k != seq[0] && k != seq[1] })
		}
		if !slices.Equal(sub, seq) {
			t.Errorf("provider's events: want %v in this order exactly once, got %v (all: %v)", seq, sub, got)
		}
	}
	backend := 0
	for i, ev := range prov {
		if i > 0 && ev.EventID <= prov[i-1].EventID {
			t.Errorf("event IDs not increasing: %s after %s", ev.EventID, prov[i-1].EventID)
		}
		if ev.ServiceID != svc || !ev.Concerns(sc.ProviderID) {
			t.Errorf("event %+v: wrong service or accounts", ev)
		}
		if ev.EventType == model.EventBackendUnhealthy {
			backend++ // no backend listens in this scenario
		}
	}
	if backend == 0 {
		t.Errorf("no BackendUnhealthy event, though no backend listens: %v", got)
	}

	cons := waitEvents(t, sc.Consumer, client.EventFilter{}, model.EventEndpointDeleted+" "+ep2)
	for _, ev := range cons {
		if !ev.Concerns(sc.ConsumerID) {
			t.Errorf("consumer sees %+v, which does not concern it", ev)
		}
	}
	if len(cons) != len(prov)-1-backend { // all but ServiceDeleted (no consumer endpoint left then) and backend health
		t.Errorf("consumer sees %d events, provider %d: %v", len(cons), len(prov), kinds(cons))
	}

	third, _ := e.Account(t, "third")
	if evs, err := third.ListEvents(bg, client.EventFilter{}); err != nil || len(evs) != 0 {
		t.Errorf("a third account sees %v, %v; want nothing", kinds(evs), err)
	}
	if all, err := e.Admin.ListEvents(bg, client.EventFilter{}); err != nil || len(all) < len(prov) {
		t.Errorf("admin sees %d events, %v; want at least %d", len(all), err, len(prov))
	}

	// Filters.
	rej, err := sc.Provider.ListEvents(bg, client.EventFilter{Type: model.EventRejected})
	if err != nil || len(rej) != 1 || rej[0].EndpointID != ep2 {
		t.Errorf("type filter: %v, %v", kinds(rej), err)
	}
	one, err := sc.Provider.ListEvents(bg, client.EventFilter{ResourceID: ep1})
	for _, ev := range one {
		if ev.EndpointID != ep1 {
			t.Errorf("resourceId filter: %v, %v", kinds(one), err)
		}
	}
	if len(one) < 5 {
		t.Errorf("resourceId filter: %v, %v; want ep1's events", kinds(one), err)
	}
	after, err := sc.Provider.ListEvents(bg, client.EventFilter{Since: prov[3].EventID})
	if err != nil || len(after) != len(prov)-4 || after[0].EventID != prov[4].EventID {
		t.Errorf("since filter: %v, %v", kinds(after), err)
	}

	// The stream: three events, broken, then resumed after the last one.
	var streamed []api.Event
	for len(streamed) < 3 {
		select {
		case ev := <-consumerStream:
			streamed = append(streamed, ev)
		case <-time.After(10 * time.Second):
			t.Fatalf("stream gave %d events", len(streamed))
		}
	}
	rctx, rcancel := context.WithTimeout(bg, 10*time.Second)
	defer rcancel()
	err = sc.Consumer.FollowEvents(rctx, client.EventFilter{Since: streamed[2].EventID}, func(ev api.Event) error {
		streamed = append(streamed, ev)
		if len(streamed) == len(cons) {
			return errors.New("done")
		}
		return nil
	})
	if err == nil || err.Error() != "done" {
		t.Fatalf("resumed stream: %v after %d events", err, len(streamed))
	}
	for i := range cons {
		if streamed[i].EventID != cons[i].EventID {
			t.Fatalf("stream %v\n  != list %v", ids(streamed), ids(cons))
		}
	}
}

func ids(evs []api.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.EventID)
	}
	return out
}

// TestEventsBadFilters: bad filters are clear 400s.
func TestEventsBadFilters(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback"})
	for _, tc := range []struct {
		f    client.EventFilter
		code string
	}{
		{client.EventFilter{Type: "Nope"}, "InvalidParameter.EventType"},
		{client.EventFilter{Since: "12"}, "InvalidParameter.Since"},
	} {
		_, err := e.Admin.ListEvents(bg, tc.f)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != tc.code {
			t.Errorf("%+v: %v; want 400 %s", tc.f, err, tc.code)
		}
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	err := e.Admin.FollowEvents(ctx, client.EventFilter{Since: "x"}, func(api.Event) error { return nil })
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != "InvalidParameter.LastEventId" {
		t.Errorf("follow with a bad Last-Event-ID: %v", err)
	}

	// Streams per account are capped; one more is a 429, another account
	// is not affected, and a closed stream frees its slot.
	acct, _ := e.Account(t, "streamer")
	other, _ := e.Account(t, "other")
	open := func(c *client.Client) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", c.URL()+"/v1/events?follow=true", nil)
		req.Header.Set("Authorization", "Bearer "+c.Token())
		return http.DefaultClient.Do(req)
	}
	var held []*http.Response
	defer func() {
		for _, r := range held {
			r.Body.Close()
		}
	}()
	for i := 0; i < api.MaxEventStreams; i++ {
		r, err := open(acct)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("stream %d: %v %v", i, r, err)
		}
		held = append(held, r)
	}
	r, err := open(acct)
	if err != nil || r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("stream past the cap: %v %v; want 429", r, err)
	} else {
		r.Body.Close()
	}
	if r, err := open(other); err != nil || r.StatusCode != 200 {
		t.Errorf("another account's stream: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	held[0].Body.Close()
	held = held[1:]
	testenv.Eventually(t, "slot freed", func() error {
		r, err := open(acct)
		if err != nil {
			return err
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			return fmt.Errorf("status %d", r.StatusCode)
		}
		return nil
	})
}

// TestQuotaExceededEvent: a create refused by a quota becomes one
// QuotaExceeded event for that account only (a second refusal within
// store.QuotaHitTTL adds none).
func TestQuotaExceededEvent(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback"})
	carol, carolID := e.Account(t, "carol")
	dave, _ := e.Account(t, "dave")
	one := 1
	if _, err := e.Admin.SetQuota(bg, carolID, api.SetQuotaRequest{Vpcs: &one}); err != nil {
		t.Fatal(err)
	}
	for i, cidr := range []string{"10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"} {
		_, err := carol.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: cidr})
		var ae *api.Error
		if i > 0 && (!errors.As(err, &ae) || ae.Code != "QuotaExceeded.Vpc") {
			t.Fatalf("VPC %d: %v, want QuotaExceeded.Vpc", i, err)
		}
	}
	evs := waitEvents(t, carol, client.EventFilter{Type: model.EventQuotaExceeded}, model.EventQuotaExceeded+" ")
	time.Sleep(500 * time.Millisecond) // a second event would have come by now
	if evs, _ = carol.ListEvents(bg, client.EventFilter{Type: model.EventQuotaExceeded}); len(evs) != 1 {
		t.Errorf("want one QuotaExceeded event for two refusals, got %+v", evs)
	}
	if len(evs) > 0 && !slices.Contains(evs[0].AccountIDs, carolID) {
		t.Errorf("event concerns %v, not carol", evs[0].AccountIDs)
	}
	if other, err := dave.ListEvents(bg, client.EventFilter{}); err != nil || len(other) != 0 {
		t.Errorf("another account sees %+v, %v", other, err)
	}
}
