package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/notify"
	"github.com/privlink/privlink/internal/testenv"
)

var bg = context.Background()

// receiver is a webhook endpoint on loopback that records what it gets.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []delivery
	code int // answer; 0: 204
	loc  string
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, code int, location string) *receiver {
	r := &receiver{code: code, loc: location}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivery{req.Header.Clone(), b})
		r.mu.Unlock()
		if r.loc != "" {
			w.Header().Set("Location", r.loc)
		}
		if r.code == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(r.code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// TestWebhooks: a loopback receiver allowed by the admin gets signed
// deliveries of the subscribed events of a service, in order, once each;
// a receiver that fails (here: redirects, which are not followed) gets
// retries with backoff until the subscription is disabled, with an event
// saying so; only owners subscribe; URLs outside the allow-list are refused.
func TestWebhooks(t *testing.T) {
	e := testenv.Start(t, testenv.Options{WebhookAllow: []string{"127.0.0.1/32"},
		Webhook: notify.Config{RetryBase: 100 * time.Millisecond, RetryMax: 400 * time.Millisecond, MaxFailures: 3, Poll: 50 * time.Millisecond}})
	sc := testenv.BuildScenario(t, e, testenv.ScenarioOptions{})
	good := newReceiver(t, 0, "")
	bad := newReceiver(t, http.StatusFound, good.URL+"/redirected")

	sub, err := sc.Provider.CreateNotification(bg, api.CreateNotificationRequest{ServiceID: sc.Service.ServiceID, URL: good.URL + "/hook",
		EventTypes: []string{model.EventAccepted, model.EventDisconnected}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Secret) != 64 || sub.Status != model.NotificationEnabled {
		t.Fatalf("created %+v: want a 64-hex secret, Enabled", sub)
	}
	failing, err := sc.Consumer.CreateNotification(bg, api.CreateNotificationRequest{EndpointID: sc.Endpoint.EndpointID, URL: bad.URL})
	if err != nil {
		t.Fatal(err)
	}

	// Refusals: not the owner, outside the allow-list, not a URL.
	for _, tc := range []struct {
		c    *client.Client
		req  api.CreateNotificationRequest
		code string
	}{
		{sc.Consumer, api.CreateNotificationRequest{ServiceID: sc.Service.ServiceID, URL: good.URL}, "EndpointServiceNotFound"},
		{sc.Provider, api.CreateNotificationRequest{EndpointID: sc.Endpoint.EndpointID, URL: good.URL}, "EndpointNotFound"},
		{sc.Provider, api.CreateNotificationRequest{ServiceID: sc.Service.ServiceID, URL: "http://127.0.0.2:9/"}, "Forbidden.WebhookUrl"},
		{sc.Provider, api.CreateNotificationRequest{ServiceID: sc.Service.ServiceID, URL: "http://169.254.169.254/latest"}, "Forbidden.WebhookUrl"},
		{sc.Provider, api.CreateNotificationRequest{ServiceID: sc.Service.ServiceID, URL: "http://10.0.0.1/"}, "Forbidden.WebhookUrl"},
		{sc.Provider, api.CreateNotificationRequest{ServiceID: sc.Service.ServiceID, URL: "ftp://127.0.0.1/"}, "InvalidParameter.Url"},
		{sc.Provider, api.CreateNotificationRequest{ServiceID: sc.Service.ServiceID, URL: good.URL, EventTypes: []string{"Nope"}}, "InvalidParameter.EventTypes"},
		{sc.Provider, api.CreateNotificationRequest{URL: good.URL}, "InvalidParameter.Target"},
	} {
		_, err := tc.c.CreateNotification(bg, tc.req)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != tc.code {
			t.Errorf("create %+v: %v; want %s", tc.req, err, tc.code)
		}
	}

	if _, err := sc.Provider.AcceptConnection(bg, sc.Service.ServiceID, sc.Endpoint.EndpointID); err != nil {
		t.Fatal(err)
	}
	sc.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.ConnectionStatus == model.ConnConnected })
	if _, err := sc.Provider.RejectConnection(bg, sc.Service.ServiceID, sc.Endpoint.EndpointID); err != nil {
		t.Fatal(err)
	}

	// The good receiver: Accepted then Disconnected, signed, once each.
	testenv.Eventually(t, "two deliveries", func() error {
		if n := len(good.deliveries()); n < 2 {
			return fmt.Errorf("%d deliveries", n)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // a duplicate would show up by now
	got := good.deliveries()
	var types []string
	for _, d := range got {
		if !notify.Verify(sub.Secret, d.body, d.header.Get(notify.HeaderSignature)) {
			t.Errorf("bad signature %q on %s", d.header.Get(notify.HeaderSignature), d.body)
		}
		if notify.Verify("wrong", d.body, d.header.Get(notify.HeaderSignature)) {
			t.Error("signature verifies under another secret")
		}
		var ev api.Event
		if err := json.Unmarshal(d.body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.EventID != d.header.Get(notify.HeaderEventID) || ev.EndpointID != sc.Endpoint.EndpointID || d.header.Get(notify.HeaderNotification) != sub.NotificationID {
			t.Errorf("delivery headers %v do not match event %+v", d.header, ev)
		}
		types = append(types, ev.EventType)
	}
	if fmt.Sprint(types) != fmt.Sprint([]string{model.EventAccepted, model.EventDisconnected}) {
		t.Errorf("good receiver got %v (%d deliveries); want [Accepted Disconnected] once each", types, len(got))
	}

	// The failing receiver: MaxFailures attempts of its first event, then disabled.
	var fl api.Notification
	testenv.Eventually(t, "failing subscription disabled", func() error {
		subs, err := sc.Consumer.ListNotifications(bg)
		if err != nil {
			return err
		}
		if len(subs) != 1 {
			return fmt.Errorf("consumer has %d subscriptions", len(subs))
		}
		fl = subs[0]
		if fl.Status != model.NotificationDisabled {
			return fmt.Errorf("still %s: %+v", fl.Status, fl.Delivery)
		}
		return nil
	})
	if fl.NotificationID != failing.NotificationID || fl.Secret != "" || fl.Delivery.Attempts != 3 || fl.Delivery.Failures != 3 ||
		fl.Delivery.LastStatus != http.StatusFound || fl.Delivery.Delivered != 0 || fl.Delivery.LastError == "" {
		t.Errorf("delivery log %+v (secret %q): want 3 failed attempts answered 302, no secret", fl.Delivery, fl.Secret)
	}
	bd := bad.deliveries()
	if len(bd) != 3 {
		t.Errorf("failing receiver got %d attempts; want 3", len(bd))
	}
	for _, d := range bd {
		if d.header.Get(notify.HeaderEventID) != bd[0].header.Get(notify.HeaderEventID) {
			t.Errorf("retries of different events: %s vs %s", d.header.Get(notify.HeaderEventID), bd[0].header.Get(notify.HeaderEventID))
		}
	}
	for _, d := range good.deliveries() {
		if d.header.Get(notify.HeaderNotification) != sub.NotificationID {
			t.Errorf("a redirect was followed: the good receiver got %s", d.body)
		}
	}
	evs := waitEvent(t, sc.Consumer, model.EventNotificationDisabled)
	if evs[0].NotificationID != failing.NotificationID {
		t.Errorf("disabled event %+v", evs[0])
	}
	if evs, _ := sc.Provider.ListEvents(bg, client.EventFilter{Type: model.EventNotificationDisabled}); len(evs) != 0 {
		t.Errorf("provider sees the consumer's NotificationDisabled: %+v", evs)
	}

	// Delete.
	if _, err := sc.Provider.DeleteNotification(bg, sub.NotificationID); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Consumer.DeleteNotification(bg, sub.NotificationID); !client.IsNotFound(err) {
		t.Errorf("another account deletes a subscription: %v", err)
	}
	if subs, _ := sc.Provider.ListNotifications(bg); len(subs) != 0 {
		t.Errorf("deleted subscription still listed: %+v", subs)
	}
}

func waitEvent(t *testing.T, c *client.Client, typ string) []api.Event {
	var evs []api.Event
	testenv.Eventually(t, typ+" event", func() error {
		var err error
		evs, err = c.ListEvents(bg, client.EventFilter{Type: typ})
		if err == nil && len(evs) == 0 {
			err = errors.New("none yet")
		}
		return err
	})
	return evs
}

// TestDefaultAllowList: without --webhook-allow only public unicast
// addresses are allowed; with it, only its CIDRs.
func TestDefaultAllowList(t *testing.T) {
	def, _ := notify.ParseAllowList(nil)
	custom, err := notify.ParseAllowList([]string{"127.0.0.1", "10.1.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip           string
		def, allowed bool
	}{
		{"127.0.0.1", false, true}, {"::1", false, false}, {"10.0.0.1", false, false}, {"10.1.2.3", false, true},
		{"192.168.1.1", false, false}, {"172.16.0.1", false, false}, {"169.254.169.254", false, false},
		{"fe80::1", false, false}, {"fd00::1", false, false}, {"100.64.0.1", false, false}, {"0.0.0.0", false, false},
		{"224.0.0.1", false, false}, {"8.8.8.8", true, false}, {"2001:4860::8888", true, false}, {"::ffff:127.0.0.1", false, true},
	} {
		ip := netip.MustParseAddr(tc.ip)
		if def.Allowed(ip) != tc.def || custom.Allowed(ip) != tc.allowed {
			t.Errorf("%s: default %v custom %v; want %v %v", tc.ip, def.Allowed(ip), custom.Allowed(ip), tc.def, tc.allowed)
		}
	}
	if _, err := notify.ParseAllowList([]string{"nonsense"}); err == nil {
		t.Error("a bad CIDR parses")
	}
}
