package events_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/events"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// openPrefix opens a store under a prefix of its own on e's etcd: the
// server's controller does not see it, the test's controllers do.
func openPrefix(t testing.TB, e *testenv.Env) *store.Store {
	st, err := store.Open(bg, store.Config{Endpoints: e.Store.Endpoints(), Credentials: e.Store.Credentials(),
		Prefix: fmt.Sprintf("/evtest-%d/", time.Now().UnixNano()), Logger: e.Config().Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// disable writes a subscription Enabled, then Disabled: one
// NotificationDisabled event.
func disable(t testing.TB, st *store.Store) string {
	n := model.Notification{NotificationID: model.NewID(model.PrefixNotification), AccountID: "1000000000000001", ServiceID: "epsrv-x",
		URL: "http://127.0.0.1:9/", Status: model.NotificationEnabled, CreateTime: time.Now().UTC().Format(time.RFC3339)}
	key := st.ResourceKey(store.KindNotif, n.NotificationID)
	if _, err := st.NewTxn().Put(key, n).Commit(bg); err != nil {
		t.Fatal(err)
	}
	n.Status = model.NotificationDisabled
	if _, err := st.NewTxn().Put(key, n).Commit(bg); err != nil {
		t.Fatal(err)
	}
	return n.NotificationID
}

// runController runs a controller until the returned stop is called.
func runController(st *store.Store) (stop func()) {
	ctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); events.New(events.Config{Store: st}).Run(ctx) }()
	return func() { cancel(); wg.Wait() }
}

func waitCount(t *testing.T, st *store.Store, n int) []model.Event {
	t.Helper()
	var evs []model.Event
	testenv.Eventually(t, fmt.Sprintf("%d events", n), func() error {
		var err error
		evs, _, err = st.ListEvents(bg, "", 0)
		if err == nil && len(evs) < n {
			err = fmt.Errorf("%d events", len(evs))
		}
		return err
	})
	time.Sleep(200 * time.Millisecond) // a duplicate would be written by now
	evs, _, _ = st.ListEvents(bg, "", 0)
	return evs
}

// TestControllerResumes: changes made while no controller runs become
// events when one starts again (from the cursor), each once although two
// controllers run; retention prunes by count and by age.
func TestControllerResumes(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	st := openPrefix(t, e)
	if _, err := st.EventsCursor(bg); err != nil {
		t.Fatal(err)
	}
	stop := runController(st)
	first := disable(t, st)
	waitCount(t, st, 1)
	stop()

	// Down: two changes. Then two controllers (two servers) start.
	missed := []string{disable(t, st), disable(t, st)}
	stop1, stop2 := runController(st), runController(st)
	defer stop1()
	defer stop2()
	evs := waitCount(t, st, 3)
	if len(evs) != 3 {
		t.Fatalf("%d events after the restart, want 3: %+v", len(evs), evs)
	}
	for i, want := range append([]string{first}, missed...) {
		if evs[i].NotificationID != want || evs[i].EventType != model.EventNotificationDisabled {
			t.Errorf("event %d: %+v; want NotificationDisabled of %s", i, evs[i], want)
		}
		if i > 0 && evs[i].EventID <= evs[i-1].EventID {
			t.Errorf("IDs not increasing: %s, %s", evs[i-1].EventID, evs[i].EventID)
		}
	}

	// Retention: by count (the oldest go), then by age.
	if n, err := st.PruneEvents(bg, 2, time.Hour); err != nil || n != 1 {
		t.Errorf("prune to 2: deleted %d, %v; want 1", n, err)
	}
	if left, _, _ := st.ListEvents(bg, "", 0); len(left) != 2 || left[0].EventID != evs[1].EventID {
		t.Errorf("after pruning to 2: %+v", left)
	}
	if n, err := st.PruneEvents(bg, 100, time.Nanosecond); err != nil || n != 2 {
		t.Errorf("prune by age: deleted %d, %v; want 2", n, err)
	}
	if left, _, _ := st.ListEvents(bg, "", 0); len(left) != 0 {
		t.Errorf("after pruning by age: %+v", left)
	}
}
