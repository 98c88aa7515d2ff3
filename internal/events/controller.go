package events

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Retention defaults.
const (
	DefaultMaxEvents = 10000
	DefaultMaxAge    = 7 * 24 * time.Hour
	// PruneEvery is how often the controller prunes.
	PruneEvery = time.Minute
)

// Config configures the controller.
type Config struct {
	Store  *store.Store
	Logger *slog.Logger
	// MaxEvents and MaxAge bound what is kept (defaults DefaultMaxEvents,
	// DefaultMaxAge); the oldest events go first.
	MaxEvents int
	MaxAge    time.Duration
}

// Controller derives events from the store and prunes them.
type Controller struct {
	cfg Config
	log *slog.Logger
}

// New returns the events controller.
func New(cfg Config) *Controller {
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = DefaultMaxEvents
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Controller{cfg: cfg, log: cfg.Logger}
}

// Run derives events until ctx ends, resuming after the last revision any
// server turned into events.
func (c *Controller) Run(ctx context.Context) {
	go c.prune(ctx)
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := c.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrCompacted) {
			c.skipCompacted(ctx)
		} else {
			c.log.Warn("events: following the store failed; resuming from the cursor", "err", err, "backoff", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (c *Controller) follow(ctx context.Context) error {
	st := c.cfg.Store
	from, err := st.EventsCursor(ctx)
	if err != nil {
		return err
	}
	return st.FollowStates(ctx, from, func(prev, next *store.State) error {
		evs := Diff(prev, next)
		if len(evs) == 0 {
			return nil
		}
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for i := range evs {
			evs[i].EventID = model.EventID(next.Rev, i)
			evs[i].EventTime = now
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ok, err := st.CommitEvents(cctx, next.Rev, evs)
		if err != nil {
			return err
		}
		if ok {
			c.log.Debug("events written", "rev", next.Rev, "count", len(evs))
		}
		return nil
	})
}

// skipCompacted moves the cursor to now when etcd no longer has the
// revisions after it: their events are lost, and that is logged.
func (c *Controller) skipCompacted(ctx context.Context) {
	st := c.cfg.Store
	from, _ := st.EventsCursor(ctx)
	rev, err := st.Revision(ctx)
	if err == nil {
		err = st.SkipEvents(ctx, rev)
	}
	c.log.Error("events: revisions compacted before they became events; skipping them", "from", from, "to", rev, "err", err)
}

func (c *Controller) prune(ctx context.Context) {
	t := time.NewTicker(PruneEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := c.cfg.Store.PruneEvents(pctx, c.cfg.MaxEvents, c.cfg.MaxAge)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.log.Warn("events: prune failed", "err", err)
		} else if n > 0 {
			c.log.Info("events pruned", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
