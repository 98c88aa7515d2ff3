package events_test

import (
	"testing"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// One revision may make more events than etcd takes operations in a
// transaction (a zone agent leaving with many endpoints: one
// ZoneUnavailable each). CommitEvents writes them all and moves the
// cursor; committing the same revision again (another server following
// the same revisions) writes nothing and says so.
func TestCommitEventsBeyondOneTransaction(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	st := openPrefix(t, e)
	base, err := st.EventsCursor(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rev int64
		n   int
	}{{base + 1, 350}, {base + 2, 99}, {base + 3, 100}} {
		evs := make([]model.Event, tc.n)
		for i := range evs {
			evs[i] = model.Event{EventID: model.EventID(tc.rev, i), EventTime: "2026-12-01T00:00:00Z", EventType: model.EventZoneUnavailable,
				AccountIDs: []string{"1000000000000001"}, EndpointID: "ep-aaaaaaaaaaaaaaaaaaaa", ZoneID: "z", Message: "zone agent gone"}
		}
		if ok, err := st.CommitEvents(bg, tc.rev, evs); err != nil || !ok {
			t.Fatalf("revision %d, %d events: ok %v err %v", tc.rev, tc.n, ok, err)
		}
		if ok, err := st.CommitEvents(bg, tc.rev, evs); err != nil || ok {
			t.Fatalf("revision %d committed twice: ok %v err %v", tc.rev, ok, err)
		}
		if cur, err := st.EventsCursor(bg); err != nil || cur != tc.rev {
			t.Fatalf("cursor %d %v, want %d", cur, err, tc.rev)
		}
	}
	all, _, err := st.ListEvents(bg, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 350+99+100 {
		t.Fatalf("%d events stored, want %d", len(all), 350+99+100)
	}
}
