// Package controller owns privlink's level-triggered reconcilers that run in
// every API server: today the endpoint status controller, which moves an
// endpoint from Creating to Active once the zone agents report every zone's
// ENI ready, and finishes what an API call that changes many endpoints in
// batches left when it stopped between them: an endpoint whose account its
// service no longer admits is disconnected, one whose service is gone turns
// ServiceDeleted. Writes are compare-and-swap, so several servers may run it.
// The placement controller (placement.go) places endpoint zones' ENIs on
// the nodes of a region of several machines; one server runs it at a time.
// See README.md.
package controller

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Status reconciles endpoint status from zone reports.
type Status struct {
	st    *store.Store
	cache *store.Cache
	log   *slog.Logger

	prev     *store.State // the State of the last pass
	lastFull time.Time    // the last pass over every endpoint
}

// NewStatus returns the endpoint status controller.
func NewStatus(st *store.Store, cache *store.Cache, log *slog.Logger) *Status {
	return &Status{st: st, cache: cache, log: log}
}

// Resync is how often the controller reconciles without a change, so an
// activation that failed on a transient store error is retried.
const Resync = 10 * time.Second

// activateTimeout bounds one activation's store calls.
const activateTimeout = 5 * time.Second

// Run reconciles after every change, and every Resync, until ctx ends.
func (c *Status) Run(ctx context.Context) {
	c.cache.Loop(ctx, "status controller", Resync, func(s *store.State) { c.reconcile(ctx, s) })
}

func (c *Status) reconcile(ctx context.Context, s *store.State) {
	// Only the endpoints a change touched, except on the Resync tick (the
	// same State again) or Resync after the last full pass, so what a
	// transient store error left is retried, and when a service, agent or
	// node changed: a pass over 10,000 endpoints per revision was most of
	// this controller's CPU after a restart (10,000 reports).
	var touched map[string]bool
	if c.prev != nil && s != c.prev && time.Since(c.lastFull) < Resync {
		touched = store.TouchedEndpoints(c.prev, s)
	}
	c.prev = s
	if touched == nil {
		c.lastFull = time.Now()
		for _, ep := range s.Endpoints {
			c.reconcileEndpoint(ctx, s, ep)
		}
		return
	}
	for id := range touched {
		if ep := s.Endpoints[id]; ep != nil {
			c.reconcileEndpoint(ctx, s, ep)
		}
	}
}

// reconcileEndpoint settles or activates one endpoint if it needs it.
func (c *Status) reconcileEndpoint(ctx context.Context, s *store.State, ep *model.Endpoint) {
	if unsettled(s, ep) {
		if err := c.settle(ctx, ep.EndpointID); err != nil {
			c.log.Warn("settle endpoint connection", "endpointId", ep.EndpointID, "err", err)
		}
	}
	if ep.EndpointStatus != model.StatusCreating || !allZonesReady(s, ep) {
		return
	}
	if err := c.activate(ctx, ep.EndpointID); err != nil {
		c.log.Warn("activate endpoint", "endpointId", ep.EndpointID, "err", err)
	}
}

func allZonesReady(s *store.State, ep *model.Endpoint) bool {
	for _, z := range ep.Zones {
		if !model.ZoneReady(s.ZoneStatus(ep, z.ZoneID)) {
			return false
		}
	}
	return len(ep.Zones) > 0
}

// errNotCreating stops an activation that another server already made.
var errNotCreating = errors.New("endpoint is no longer Creating")

// activate sets Active under compare-and-swap.
func (c *Status) activate(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, activateTimeout)
	defer cancel()
	_, err := store.Update(ctx, c.st, c.st.ResourceKey(store.KindEndpoint, id), func(ep *model.Endpoint, _ *store.Txn) error {
		if ep.EndpointStatus != model.StatusCreating {
			return errNotCreating
		}
		ep.EndpointStatus = model.StatusActive
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errNotCreating):
		return nil
	case err == nil:
		c.log.Info("endpoint active", "endpointId", id)
	}
	return err
}

// unsettled reports whether an endpoint's connection status is left over
// from an interrupted revocation or service deletion: its service no
// longer admits its account but it is not Disconnected, or its service is
// gone (not merely bad) but it is not ServiceDeleted.
func unsettled(s *store.State, ep *model.Endpoint) bool {
	svc := s.Services[ep.ServiceID]
	if svc == nil {
		return ep.ConnectionStatus != model.ConnServiceDeleted && !s.Bad(store.KindService, ep.ServiceID)
	}
	return ep.ConnectionStatus != model.ConnDisconnected && ep.ConnectionStatus != model.ConnServiceDeleted && !svc.Admits(ep.AccountID)
}

// errSettled stops a settle that is no longer needed.
var errSettled = errors.New("endpoint connection already settled")

// settle disconnects an endpoint its service no longer admits, or marks
// it ServiceDeleted when the service is gone, guarded by the endpoint's
// and the service's revisions (the service's absence).
func (c *Status) settle(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, activateTimeout)
	defer cancel()
	var to string
	_, err := store.Update(ctx, c.st, c.st.ResourceKey(store.KindEndpoint, id), func(ep *model.Endpoint, t *store.Txn) error {
		svcKey := c.st.ResourceKey(store.KindService, ep.ServiceID)
		svc, srev, err := store.Get[model.EndpointService](ctx, c.st, svcKey)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if ep.ConnectionStatus == model.ConnServiceDeleted {
				return errSettled
			}
			to = model.ConnServiceDeleted
		case err != nil:
			return err
		case ep.ConnectionStatus == model.ConnDisconnected || ep.ConnectionStatus == model.ConnServiceDeleted || svc.Admits(ep.AccountID):
			return errSettled
		default:
			to = model.ConnDisconnected
		}
		t.Unchanged(svcKey, srev)
		ep.ConnectionStatus = to
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errSettled):
		return nil
	case err == nil:
		c.log.Info("endpoint connection settled", "endpointId", id, "connectionStatus", to)
	}
	return err
}
