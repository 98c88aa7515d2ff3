package events_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/privlink/privlink/internal/events"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Diff looks only at the endpoints whose records changed (by identity)
// when the services, agents and nodes did not. Over random sequences of
// changes to 40 endpoints (statuses, reports with backend health, endpoints
// created and deleted), each made the way the store makes States (the
// untouched records shared), it must give exactly the events of a Diff
// that compares every endpoint, forced here by giving next a copy of the
// service (same content, new identity).
func TestDiffIncrementalMatchesFull(t *testing.T) {
	statuses := []string{model.ConnPending, model.ConnConnected, model.ConnDisconnected}
	for seed := range uint64(8) {
		r := rand.New(rand.NewPCG(seed, 7))
		prev := state(true, nil, true, nil)
		prev.Placements = map[string]*model.ENIPlacement{}
		for step := range 200 {
			next := &store.State{Services: prev.Services, Agents: prev.Agents, Notifications: prev.Notifications,
				Endpoints: maps.Clone(prev.Endpoints), Reports: maps.Clone(prev.Reports), Placements: prev.Placements}
			id := fmt.Sprintf("ep-%d", r.IntN(40))
			switch old := next.Endpoints[id]; {
			case old == nil:
				e := *ep(model.StatusActive, statuses[r.IntN(3)])
				e.EndpointID = id
				next.Endpoints[id] = &e
			case r.IntN(5) == 0:
				delete(next.Endpoints, id)
				delete(next.Reports, "z/"+id)
			case r.IntN(2) == 0:
				e := *old
				e.ConnectionStatus = statuses[r.IntN(3)]
				next.Endpoints[id] = &e
			default:
				next.Reports["z/"+id] = &model.ZoneReport{EndpointID: id, ZoneID: "z", Ready: r.IntN(4) > 0,
					Backends: map[string]bool{"10.0.0.1:80": r.IntN(2) == 0, "10.0.0.2:80": r.IntN(2) == 0}}
			}
			full := *next
			full.Services = maps.Clone(next.Services)
			s := *full.Services["epsrv-1"]
			full.Services["epsrv-1"] = &s
			got, want := events.Diff(prev, next), events.Diff(prev, &full)
			if !slices.EqualFunc(got, want, func(a, b model.Event) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
				t.Fatalf("seed %d step %d (%s): incremental Diff\n%v\nfull Diff\n%v", seed, step, id, got, want)
			}
			prev = next
		}
	}
}

// BenchmarkDiffOneOf10000: one endpoint's report changes among 10,000
// endpoints (what each of a restart's 10,000 report writes is to the
// events controller), and the full pass when a service changed.
func BenchmarkDiffOneOf10000(b *testing.B) {
	prev := state(true, nil, true, nil)
	prev.Placements = map[string]*model.ENIPlacement{}
	prev.Endpoints, prev.Reports = map[string]*model.Endpoint{}, map[string]*model.ZoneReport{}
	for i := range 10000 {
		e := *ep(model.StatusActive, model.ConnConnected)
		e.EndpointID = fmt.Sprintf("ep-%d", i)
		prev.Endpoints[e.EndpointID] = &e
	}
	next := &store.State{Services: prev.Services, Agents: prev.Agents, Notifications: prev.Notifications,
		Endpoints: prev.Endpoints, Reports: maps.Clone(prev.Reports), Placements: prev.Placements}
	next.Reports["z/ep-7"] = &model.ZoneReport{EndpointID: "ep-7", ZoneID: "z", Ready: true, Backends: map[string]bool{"10.0.0.1:80": true}}
	b.Run("touched", func(b *testing.B) {
		for range b.N {
			events.Diff(prev, next)
		}
	})
	full := *next
	full.Services = maps.Clone(next.Services)
	s := *full.Services["epsrv-1"]
	full.Services["epsrv-1"] = &s
	b.Run("all", func(b *testing.B) {
		for range b.N {
			events.Diff(prev, &full)
		}
	})
}
