package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/api"
)

// EventFilter narrows ListEvents and FollowEvents.
type EventFilter struct {
	Type       string // one event type
	ResourceID string // a service, endpoint, zone, backend or notification ID the event names
	Since      string // an event ID: only events after it
}

func (f EventFilter) query() url.Values {
	return url.Values{api.FilterEventType: {f.Type}, api.FilterResourceID: {f.ResourceID}, api.FilterSince: {f.Since}}
}

// ListEvents lists the events concerning the account (all, for the admin), oldest first.
func (c *Client) ListEvents(ctx context.Context, f EventFilter) ([]api.Event, error) {
	return list[api.Event](ctx, c, api.OpListEvents, f.query())
}

// FollowEvents streams the events after f.Since (Server-Sent Events) and
// calls fn with each, in order, until ctx ends or fn fails. When the
// stream breaks it reconnects, resuming after the last event fn saw
// (Last-Event-ID), so fn sees every event once. It returns fn's error,
// ctx's, or the API's refusal (*api.Error).
func (c *Client) FollowEvents(ctx context.Context, f EventFilter, fn func(api.Event) error) error {
	backoff := 100 * time.Millisecond
	for {
		got := false
		err := c.followOnce(ctx, f, func(e api.Event) error {
			got = true
			f.Since = e.EventID
			return fn(e)
		})
		var apiErr *api.Error
		var fnErr callbackError
		switch {
		case errors.As(err, &fnErr):
			return fnErr.err
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &apiErr):
			return err
		}
		if got {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// followOnce reads one event stream until it ends.
func (c *Client) followOnce(ctx context.Context, f EventFilter, fn func(api.Event) error) error {
	q := f.query()
	since := q.Get(api.FilterSince)
	q.Del(api.FilterSince)
	for k, v := range q {
		if v[0] == "" {
			q.Del(k)
		}
	}
	q.Set(api.ParamFollow, "true")
	op, _ := api.Lookup(api.OpListEvents)
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+op.Path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if since != "" {
		req.Header.Set("Last-Event-ID", since)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := *c.hc
	hc.Timeout = 0 // a stream lasts; ctx ends it
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("follow events: %w", c.transportError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return decodeError(resp.StatusCode, data)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var typ, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if typ != "" && typ != "error" && data != "" {
				var e api.Event
				if err := json.Unmarshal([]byte(data), &e); err != nil {
					return fmt.Errorf("follow events: bad event: %w", err)
				}
				if err := fn(e); err != nil {
					return callbackError{err}
				}
			}
			typ, data = "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("follow events: %w", err)
	}
	return errors.New("follow events: the stream ended")
}
