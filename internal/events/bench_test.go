package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// BenchmarkListAllEvents reads a full retention's worth of events
// (DefaultMaxEvents), what GET /v1/events does to filter them:
// go test ./internal/events/ -run '^$' -bench ListAllEvents -benchtime 20x
func BenchmarkListAllEvents(b *testing.B) {
	e := testenv.Start(b, testenv.Options{Network: "loopback", AgentZones: []string{}})
	st := openPrefix(b, e)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	base, err := st.EventsCursor(bg)
	if err != nil {
		b.Fatal(err)
	}
	for rev := base + 1; rev <= base+100; rev++ {
		evs := make([]model.Event, 100)
		for i := range evs {
			evs[i] = model.Event{EventID: model.EventID(rev, i), EventTime: now, EventType: model.EventAccepted,
				AccountIDs: []string{"1000000000000001", "1000000000000002"}, ServiceID: "epsrv-aaaaaaaaaaaaaaaaaaaa",
				EndpointID: "ep-aaaaaaaaaaaaaaaaaaaa", Message: "connection accepted"}
		}
		if ok, err := st.CommitEvents(bg, rev, evs); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, after := 0, ""
		for {
			evs, _, err := st.ListEvents(bg, after, 500)
			if err != nil {
				b.Fatal(err)
			}
			n += len(evs)
			if len(evs) < 500 {
				break
			}
			after = evs[len(evs)-1].EventID
		}
		if n != 10000 {
			b.Fatalf("%d events", n)
		}
	}
}

// BenchmarkEventLatency is the time from a store change to its event
// reaching a watcher (what an SSE client sees), with a controller running:
// go test ./internal/events/ -run '^$' -bench EventLatency -benchtime 50x
func BenchmarkEventLatency(b *testing.B) {
	e := testenv.Start(b, testenv.Options{Network: "loopback", AgentZones: []string{}})
	st := openPrefix(b, e)
	if _, err := st.EventsCursor(bg); err != nil {
		b.Fatal(err)
	}
	stop := runController(st)
	defer stop()
	got := make(chan model.Event, 1)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	go func() {
		_ = st.WatchEvents(ctx, "", func(ev model.Event) error { got <- ev; return nil })
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		disable(b, st)
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			b.Fatal("no event")
		}
	}
}
