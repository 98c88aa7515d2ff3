package store

import (
	"context"
	"runtime/debug"
	"time"
)

// Loop runs a level-triggered reconcile loop on the cache: once the cache
// has synced, f runs with the current State, then again after every change
// and (every > 0) at least that often, until ctx ends. A panic in f ends
// that iteration only: it is logged with its stack, counted in
// privlink_reconcile_panics_total{loop}, and the loop carries on.
func (c *Cache) Loop(ctx context.Context, name string, every time.Duration, f func(*State)) {
	ch := c.Subscribe()
	select {
	case <-ctx.Done():
		return
	case <-c.Synced():
	}
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		c.safely(name, f)
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-tick:
		}
	}
}

func (c *Cache) safely(name string, f func(*State)) {
	defer func() {
		if p := recover(); p != nil {
			c.s.panics.WithLabelValues(name).Inc()
			c.log.Error("reconcile panicked; carrying on", "loop", name, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	f(c.State())
}
