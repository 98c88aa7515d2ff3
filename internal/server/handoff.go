package server

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/handoff"
)

// The handoff of a standalone agent (zone or node) (Config.HandoffSocket, package
// handoff): a starting agent takes the running one's sockets and lease
// (takeOver), and once ready tells it so and serves the path for its own
// successor (serveHandoff). Under a socket keeper (Config.Keeper, package
// keeper) it also takes what the keeper holds: after a crash that is
// all there is; in a reload the running agent hands over as well.

// takeOver takes the sockets and lease of the keeper, if any, and of the
// agent serving HandoffSocket, if any (its own override the keeper's
// copies of the same sockets); the sockets replace binding anew wherever
// their keys match.
func (s *Server) takeOver() error {
	var given []handoff.Socket
	if s.cfg.HandoffSocket != "" {
		t, err := handoff.Take(s.cfg.HandoffSocket, time.Minute)
		if err != nil {
			return err
		}
		if t != nil {
			s.taken, given, s.adopted = t, t.Sockets, t.Lease
			s.log.Info("handoff: taking over from the running agent", "sockets", len(t.Sockets), "lease", fmt.Sprintf("%x", t.Lease))
		}
	}
	if s.cfg.Keeper != nil {
		// In a reload the running agent handed over the same sockets and
		// the current lease: the keeper's copies are not needed.
		k, err := s.takeFromKeeper(s.taken != nil)
		if err != nil {
			if s.taken != nil {
				s.taken.Abort()
				s.taken = nil
			}
			handoff.CloseSockets(given)
			return err
		}
		s.keeper = k
		if s.taken == nil {
			given, s.adopted = k.Sockets, k.Lease
		}
	}
	if s.keeper != nil && s.taken == nil && (len(given) > 0 || s.adopted != 0) {
		s.afterCrash = true
		s.log.Info("socket keeper: taking over what the previous agent kept", "sockets", len(given), "lease", fmt.Sprintf("%x", s.adopted))
	}
	if s.keeper != nil || s.taken != nil {
		s.handed = handoff.NewSockets(s.Driver.Sockets, given)
		s.Driver.Sockets = s.handed
	}
	return nil
}

// takeFromKeeper takes what the socket keeper holds (nothing at its
// first start; discard: only the lease); the connection then carries the
// agent's reports.
func (s *Server) takeFromKeeper(discard bool) (*handoff.Taken, error) {
	fc, err := net.FileConn(s.cfg.Keeper)
	s.cfg.Keeper.Close()
	if err != nil {
		return nil, fmt.Errorf("socket keeper connection: %w", err)
	}
	c, ok := fc.(*net.UnixConn)
	if !ok {
		fc.Close()
		return nil, errors.New("socket keeper connection: not a Unix socket")
	}
	t, err := handoff.TakeFrom(c, time.Minute, s.log, discard)
	if err != nil {
		c.Close()
		return nil, err
	}
	return t, nil
}

// agentKeeper is the agents' Config.Keeper (a nil interface without one).
func (s *Server) agentKeeper() handoff.Keeper {
	if s.keeper == nil {
		return nil
	}
	return s.keeper
}

// keepMgmt reports the management listener to the socket keeper, if any.
func (s *Server) keepMgmt() {
	if s.keeper == nil {
		return
	}
	if fd := handoff.FD(s.mgmtLn); fd >= 0 {
		s.keeper.Keep([]handoff.Socket{{Key: mgmtKey(s.cfg.MetricsListen), FD: fd}})
	}
}

// adoptLease is the predecessor's lease (0: none).
func (s *Server) adoptLease() int64 { return s.adopted }

// handedListener is the handed-over TCP listener of key (nil: none).
func (s *Server) handedListener(key string) (net.Listener, error) {
	if s.handed == nil {
		return nil, nil
	}
	return s.handed.Listener(key)
}

func mgmtKey(addr string) string { return "mgmt " + addr }

// serveHandoff runs once the process is ready: it releases the
// predecessor, if any, tells the keeper, if any, and answers a successor
// on HandoffSocket.
func (s *Server) serveHandoff(reg prometheus.Registerer) error {
	if s.cfg.HandoffSocket == "" && s.keeper == nil {
		return nil
	}
	results := handoffMetrics(reg)
	tookOver := s.taken != nil
	if s.handed != nil {
		// DNS too: the predecessor's resolver stops with it.
		// Its held resolver sockets too, before the unused are closed.
		for deadline := time.Now().Add(5 * time.Second); (tookOver || s.afterCrash) && s.resolver != nil && !s.resolver.Settled() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		unused := s.handed.CloseUnused()
		if s.keeper != nil {
			// Endpoints gone meanwhile: the keeper must not hold their
			// ports open (clients would wait instead of being refused).
			s.keeper.Drop(unused)
		}
		if len(unused) > 0 {
			s.log.Info("taken over: sockets nothing asked for closed (endpoints gone meanwhile)", "count", len(unused))
		}
	}
	if tookOver {
		err := s.taken.Ready(30 * time.Second)
		if errors.Is(err, handoff.ErrResumed) {
			return err // the predecessor serves on, so we must not (Start aborts the takeover)
		}
		s.taken = nil
		if err != nil {
			// It died or was stopped mid-handoff (it then leaves us the lease): we serve.
			s.log.Warn("handoff: the predecessor did not confirm its release", "err", err)
		} else {
			s.log.Info("handoff: took over")
		}
		results.WithLabelValues("took_over").Inc()
	}
	if s.keeper != nil {
		if err := s.keeper.Ready(10 * time.Second); err != nil {
			s.log.Error("socket keeper: telling it we are ready; a crash of this process will not be bridged", "err", err)
		}
		if s.afterCrash {
			s.log.Warn("socket keeper: took over from a worker that died")
			results.WithLabelValues("from_keeper").Inc()
		}
	}
	if s.cfg.HandoffSocket == "" {
		return nil
	}
	var g giver
	for _, a := range s.Agents {
		g = giver{s: s, a: a} // a handoff process has exactly one (Config checks)
	}
	srv, err := handoff.Serve(s.cfg.HandoffSocket, g, s.log, func(o handoff.Outcome) { results.WithLabelValues(string(o)).Inc() })
	switch {
	case err == nil:
		s.handoff = srv
	case tookOver:
		// Failing now would leave nobody serving: the predecessor is gone.
		s.log.Error("handoff: cannot serve the socket for a successor: the next restart will be cold", "path", s.cfg.HandoffSocket, "err", err)
	default:
		return fmt.Errorf("handoff socket %s: %w", s.cfg.HandoffSocket, err)
	}
	return nil
}

// abortTakeOver lets the predecessor serve on when this start failed:
// its lease is not revoked by our agent's shutdown.
func (s *Server) abortTakeOver() {
	if s.adopted == 0 && s.taken == nil {
		return
	}
	for _, a := range s.Agents {
		a.KeepLease()
	}
	if s.taken != nil {
		s.taken.Abort()
		s.taken = nil
	}
	if s.handed != nil {
		s.handed.CloseUnused()
	}
}

// HandedOver is closed once a successor has taken over (never without
// HandoffSocket): the caller stops the process, which then drains.
func (s *Server) HandedOver() <-chan struct{} {
	if s.handoff == nil {
		return nil
	}
	return s.handoff.Released()
}

// giver is the process's side of a handoff: the agent's, plus the
// management listener.
type giver struct {
	s *Server
	a *agent.Agent
}

func (g giver) Freeze() (handoff.Offer, error) {
	if g.a == nil {
		return handoff.Offer{}, errors.New("no agent")
	}
	o, err := g.a.Freeze()
	if err != nil {
		return o, err
	}
	if fd := handoff.FD(g.s.mgmtLn); fd >= 0 {
		o.Sockets = append(o.Sockets, handoff.Socket{Key: mgmtKey(g.s.cfg.MetricsListen), FD: fd})
	}
	return o, nil
}

func (g giver) Resume() { g.a.Resume() }

// Release stops the agent accepting and the management server (the
// successor serves /metrics and /readyz on the same socket now).
func (g giver) Release() {
	g.a.Release()
	if g.s.mgmt != nil {
		_ = g.s.mgmt.Close()
	}
}
