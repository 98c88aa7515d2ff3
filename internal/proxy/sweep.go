package proxy

import (
	"time"
)

// Sweep interval bounds: the sweeper runs every IdleTimeout/4 within these.
const (
	minSweepInterval = 10 * time.Millisecond
	maxSweepInterval = 5 * time.Second
)

func sweepInterval(idle time.Duration) time.Duration {
	return min(max(idle/4, minSweepInterval), maxSweepInterval)
}

// sweep is the per-Listener housekeeping goroutine. Every interval it reads
// the kernel byte counters (TCP_INFO) of each consumer socket, which see the
// traffic of both directions even though payload is spliced: a connection
// whose counters have not moved for its IdleTimeout is closed, and moved
// counters are added to the byte metrics (live accounting for long-lived
// connections). The copy goroutines stay free of timers and deadlines.
func (l *Listener) sweep() {
	defer l.wg.Done()
	interval := sweepInterval(l.st.Load().idle)
	t := time.NewTicker(interval)
	defer t.Stop()
	var batch []*pconn
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.updated:
			if iv := sweepInterval(l.st.Load().idle); iv != interval {
				interval = iv
				t.Reset(iv)
			}
		case now := <-t.C:
			batch = l.snapshot(batch[:0])
			for _, c := range batch {
				if c.sweep(now) {
					if !c.closed.Load() {
						l.log.Debug("closing idle connection", "src", c.client.RemoteAddr(),
							"backend", c.backend.RemoteAddr(), "idle_timeout", c.st.idle)
					}
					c.close()
				}
			}
			clear(batch)
		}
	}
}

// sweep updates the activity state of c and reports whether it has been idle
// for its idle timeout. Only the sweeper goroutine calls it.
func (c *pconn) sweep(now time.Time) (idle bool) {
	var odo uint64
	if c.ctcp != nil {
		if c.raw == nil {
			c.raw, _ = c.ctcp.SyscallConn()
		}
		if recv, acked, ok := tcpCounters(c.raw); ok {
			odo = recv + acked
			// recv and acked may include the consumer's and our FIN (one
			// sequence number each), hence -1: live values never exceed the
			// payload actually moved on a healthy connection. The exact
			// count is settled when the direction finishes.
			c.raise(true, int64(recv)-1)
			c.raise(false, int64(acked)-1)
		}
	}
	ui, uo := c.userIn.Load(), c.userOut.Load()
	odo += uint64(ui + uo)
	c.raise(true, ui)
	c.raise(false, uo)
	if c.lastActive.IsZero() || odo != c.odometer {
		c.odometer, c.lastActive = odo, now
		return false
	}
	return now.Sub(c.lastActive) >= c.st.idle
}
