package agent

import (
	"errors"
	"time"

	"github.com/privlink/privlink/internal/handoff"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/store"
)

// DefaultDrainTimeout is how long an agent that handed over waits for its
// open connections to end before it closes them (Config.DrainTimeout).
const DefaultDrainTimeout = time.Minute

// Freeze implements handoff.Giver: no round runs until Resume or Release
// (the listeners go on serving the last round's state), and the offer is
// every listening socket with the lease.
func (a *Agent) Freeze() (handoff.Offer, error) {
	a.roundMu.Lock()
	switch {
	case a.released.Load():
		a.roundMu.Unlock()
		return handoff.Offer{}, errors.New("already handed over")
	case !a.ready.Load():
		a.roundMu.Unlock()
		return handoff.Offer{}, errors.New("not synced yet")
	}
	o := handoff.Offer{Lease: a.lease.ID()}
	for _, r := range a.listeners {
		if fd := r.l.FD(); fd >= 0 {
			o.Sockets = append(o.Sockets, handoff.Socket{Key: socketKey("tcp", r.spec), FD: fd})
		}
	}
	for _, r := range a.udp.listeners {
		if fd := r.l.FD(); fd >= 0 {
			o.Sockets = append(o.Sockets, handoff.Socket{Key: socketKey("udp", r.spec), FD: fd})
		}
	}
	return o, nil
}

// Resume implements handoff.Giver: rounds run again.
func (a *Agent) Resume() { a.roundMu.Unlock() }

// Release implements handoff.Giver: the successor serves. The agent stops
// accepting (open TCP connections go on until they end or DrainTimeout,
// see drain), closes its UDP ports (their sessions end: a client's next
// datagram opens one in the successor), and gives up its lease without
// revoking it. No round runs again.
func (a *Agent) Release() {
	defer a.roundMu.Unlock()
	a.released.Store(true)
	ls := make([]*proxy.Listener, 0, len(a.listeners))
	for _, r := range a.listeners {
		ls = append(ls, r.l)
	}
	if err := proxy.StopAcceptingMany(ls); err != nil {
		a.log.Warn("handoff: stop accepting", "err", err)
	}
	a.stopUDP()
	a.lease.Abandon()
}

// KeepLease makes shutdown give up the lease without revoking it: a
// process that took over from a predecessor and then failed to start
// leaves the predecessor's lease, and its zone, alone.
func (a *Agent) KeepLease() { a.keepLease.Store(true) }

// drain waits, after a Release, until the open connections have ended or
// DrainTimeout has passed; shutdown then closes what is left.
func (a *Agent) drain() {
	t0, deadline := time.Now(), time.Now().Add(a.cfg.DrainTimeout)
	open := func() int {
		n := 0
		for _, r := range a.listeners {
			n += r.l.ActiveConns()
		}
		return n
	}
	n := open()
	for n > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		n = open()
	}
	a.log.Info("handed over: drained", "seconds", time.Since(t0).Seconds(), "closing", n)
}

// adoptReports makes the reports the predecessor wrote under the adopted
// lease this agent's last written ones, so that only those that differ
// are written again: without it every report would be rewritten and every
// watcher would reprocess each endpoint zone.
func (a *Agent) adoptReports(st *store.State) {
	for _, rep := range st.Reports {
		if rep.ZoneID == a.cfg.Zone {
			a.reported[rep.EndpointID] = *rep
		}
	}
}
