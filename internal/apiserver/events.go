package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// eventFilter is what a ListEvents request asks for.
type eventFilter struct {
	caller     caller
	typ        string
	resourceID string
	since      string
}

func parseEventFilter(r *http.Request, c caller) (eventFilter, error) {
	q := r.URL.Query()
	f := eventFilter{caller: c, typ: q.Get(api.FilterEventType), resourceID: q.Get(api.FilterResourceID), since: q.Get(api.FilterSince)}
	if f.typ != "" && !model.ValidEventType(f.typ) {
		return f, model.Invalid("EventType", "type must be one of %v", model.EventTypes)
	}
	if f.since != "" && !model.ValidEventID(f.since) {
		return f, model.Invalid("Since", "since must be an event ID (as eventId in an event)")
	}
	return f, nil
}

// match reports whether the caller may see e and it passes the filters.
func (f eventFilter) match(e *model.Event) bool {
	if !f.caller.Admin && !e.Concerns(f.caller.AccountID) {
		return false
	}
	if f.typ != "" && e.EventType != f.typ {
		return false
	}
	if f.resourceID != "" {
		for _, id := range e.Resources() {
			if id == f.resourceID {
				return true
			}
		}
		return false
	}
	return true
}

// listEvents answers GET /v1/events: the caller's events after since,
// paged like every list. It reads every stored event after since (at most
// the retention count) to filter them.
func (a *API) listEvents(r *http.Request) (any, error) {
	f, err := parseEventFilter(r, callerOf(r))
	if err != nil {
		return nil, err
	}
	var out []model.Event
	after := f.since
	for {
		evs, _, err := a.st.ListEvents(r.Context(), after, 500)
		if err != nil {
			return nil, err
		}
		for i := range evs {
			if f.match(&evs[i]) {
				out = append(out, evs[i])
			}
		}
		if len(evs) < 500 {
			break
		}
		after = evs[len(evs)-1].EventID
	}
	return paginate(r, out, func(e model.Event) string { return e.EventID })
}

// streams counts the open event streams per account.
type streams struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire takes a stream slot for account, or reports false.
func (s *streams) acquire(account string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	if s.n[account] >= api.MaxEventStreams {
		return false
	}
	s.n[account]++
	return true
}

func (s *streams) release(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[account]--; s.n[account] <= 0 {
		delete(s.n, account)
	}
}

// handler is the route's handler: wrap's, but ListEvents with follow=true
// streams (followEvents) outside the request deadline.
func (a *API) handler(rt route) http.Handler {
	h := a.wrap(rt)
	if rt.ID != api.OpListEvents {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get(api.ParamFollow) == "true" {
			a.followEvents(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// SSEKeepalive is how often an idle event stream gets a comment line, so
// proxies keep it open and a gone client is noticed.
const SSEKeepalive = 15 * time.Second

// followEvents answers GET /v1/events?follow=true with a Server-Sent Events
// stream: one "id:"/"event:"/"data:" record per event, starting after the
// Last-Event-ID header (or since), until the client goes away. It runs
// outside the request timeout.
func (a *API) followEvents(w http.ResponseWriter, r *http.Request) {
	rid := requestID(r)
	if rid == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		rid = strings.ToUpper(hex.EncodeToString(b[:]))
		w.Header().Set("X-Request-Id", rid)
		r = r.WithContext(context.WithValue(r.Context(), ctxRequestID, rid))
	}
	actx, cancel := context.WithTimeout(r.Context(), a.timeout)
	c, err := a.authenticate(r.WithContext(actx))
	cancel()
	if err != nil {
		writeError(w, r, err)
		return
	}
	f, err := parseEventFilter(r, c)
	if err == nil {
		if last := r.Header.Get("Last-Event-ID"); last != "" {
			if !model.ValidEventID(last) {
				err = model.Invalid("LastEventId", "the Last-Event-ID header must be an event ID")
			}
			f.since = last
		}
	}
	flusher, ok := w.(http.Flusher)
	if err == nil && !ok {
		err = internal("event stream: the response writer cannot flush")
	}
	if err == nil && !a.streams.acquire(c.AccountID) {
		err = model.Errorf(http.StatusTooManyRequests, "Throttling.EventStreams", "at most %d event streams per account at once; close one", api.MaxEventStreams)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer a.streams.release(c.AccountID)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex
	write := func(s string) error {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprint(w, s); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	if write(": privlink events, requestId "+rid+"\n\n") != nil {
		return
	}
	ctx, stop := context.WithCancel(r.Context())
	defer stop()
	go func() {
		t := time.NewTicker(SSEKeepalive)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if write(": keepalive\n\n") != nil {
					stop()
					return
				}
			}
		}
	}()
	err = a.st.WatchEvents(ctx, f.since, func(e model.Event) error {
		if !f.match(&e) {
			return nil
		}
		data, _ := json.Marshal(e)
		return write("id: " + e.EventID + "\nevent: " + e.EventType + "\ndata: " + string(data) + "\n\n")
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		a.log.Warn("event stream ended", "err", err, "requestId", rid)
		_ = write("event: error\ndata: " + store.MustJSON(map[string]string{"message": "the event stream broke; reconnect with Last-Event-ID"}) + "\n\n")
	}
}
