// Package controller owns privlink's level-triggered reconcilers that run in
// every API server: today the endpoint status controller, which moves an
// endpoint from Creating to Active once the zone agents report every zone's
// ENI ready. Writes are compare-and-swap, so several servers may run it.
package controller

import (
	"context"
	"log/slog"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Status reconciles endpoint status from zone reports.
type Status struct {
	st    *store.Store
	cache *store.Cache
	log   *slog.Logger
}

// NewStatus returns the endpoint status controller.
func NewStatus(st *store.Store, cache *store.Cache, log *slog.Logger) *Status {
	return &Status{st: st, cache: cache, log: log}
}

// Run reconciles after every change until ctx ends.
func (c *Status) Run(ctx context.Context) {
	ch := c.cache.Subscribe()
	select {
	case <-ctx.Done():
		return
	case <-c.cache.Synced():
	}
	for {
		c.reconcile(ctx, c.cache.State())
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

func (c *Status) reconcile(ctx context.Context, s *store.State) {
	for _, ep := range s.Endpoints {
		if ep.EndpointStatus != model.StatusCreating || !allZonesReady(s, ep) {
			continue
		}
		if err := c.activate(ctx, ep.EndpointID); err != nil {
			c.log.Warn("activate endpoint", "endpointId", ep.EndpointID, "err", err)
		}
	}
}

func allZonesReady(s *store.State, ep *model.Endpoint) bool {
	for _, z := range ep.Zones {
		rep := s.Report(z.ZoneID, ep.EndpointID)
		if rep == nil || !rep.Ready {
			return false
		}
	}
	return len(ep.Zones) > 0
}

// activate sets Active under CAS; a lost race is simply retried on the next change.
func (c *Status) activate(ctx context.Context, id string) error {
	key := c.st.Key(store.KindEndpoint, id)
	ep, rev, err := store.Get[model.Endpoint](ctx, c.st, key)
	if err != nil || ep.EndpointStatus != model.StatusCreating {
		if err == store.ErrNotFound {
			return nil
		}
		return err
	}
	ep.EndpointStatus = model.StatusActive
	_, err = c.st.Client().Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, store.MustJSON(ep))).Commit()
	if err == nil {
		c.log.Info("endpoint active", "endpointId", id)
	}
	return err
}
