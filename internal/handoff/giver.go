package handoff

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Giver is the running agent's side of a handoff.
type Giver interface {
	// Freeze stops applying changes (serving goes on) and returns what to
	// hand over. The descriptors stay the giver's: the kernel gives the
	// taker its own.
	Freeze() (Offer, error)
	// Resume undoes Freeze: the taker went away before it was ready.
	Resume()
	// Release is called once the taker serves: stop accepting on the
	// handed sockets (without closing them for the taker), keep the lease
	// alive no longer but do not revoke it, and let open connections end.
	Release()
}

// ReadyTimeout is how long a giver waits, frozen (applying no change),
// for its taker's first round before it resumes and tells the taker so
// (longer than a start may take: internal/server's 30 s readiness limit).
var ReadyTimeout = 45 * time.Second

// Server answers takers on a Unix socket path for one Giver.
type Server struct {
	ln       *net.UnixListener
	g        Giver
	log      *slog.Logger
	outcome  func(Outcome)
	released chan struct{}
	done     chan struct{}

	mu      sync.Mutex
	cur     *net.UnixConn // the handoff in progress
	closing bool
}

// Serve listens on path (a stale socket file there is replaced: Take was
// tried on it first; anything else there is an error) and gives to the
// first taker that asks and runs as the same user (the socket is 0600 and
// the peer's credentials are checked: another user's process must never
// get the listening sockets).
//
// outcome (may be nil) is told how each handoff ended, for metrics.
func Serve(path string, g Giver, log *slog.Logger, outcome func(Outcome)) (*Server, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("%s exists and is not a socket", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.ListenUnix(network, &net.UnixAddr{Name: path, Net: network})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if outcome == nil {
		outcome = func(Outcome) {}
	}
	s := &Server{ln: ln, g: g, log: log, outcome: outcome, released: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s, nil
}

// Released is closed once a taker has taken over.
func (s *Server) Released() <-chan struct{} { return s.released }

// Close stops answering and removes the socket file. A handoff in
// progress ends: before the offer is sent, the giver resumes; after it,
// the giver releases (its process is stopping, and a taker that lives on
// holds the lease now: it must not be revoked under it).
func (s *Server) Close() {
	s.mu.Lock()
	s.closing = true
	if s.cur != nil {
		s.cur.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	<-s.done
}

func (s *Server) loop() {
	defer close(s.done)
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.cur = c
		closing := s.closing
		s.mu.Unlock()
		if closing {
			c.Close()
			return
		}
		ok := s.give(c)
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		c.Close()
		if ok {
			close(s.released)
			return
		}
	}
}

// Outcome is how a handoff ended on the giver's side.
type Outcome string

const (
	Released Outcome = "released" // the taker serves
	Resumed  Outcome = "resumed"  // the taker went away or was not ready in time: the giver serves on
	Refused  Outcome = "refused"  // another user, another protocol version, or the giver could not give
	Stopped  Outcome = "stopped"  // the giver stopped mid-handoff and left the lease to the taker
)

// give runs one handoff; true when the taker took over.
func (s *Server) give(c *net.UnixConn) bool {
	o := s.handOver(c)
	s.outcome(o)
	return o == Released
}

func (s *Server) handOver(c *net.UnixConn) Outcome {
	if err := sameUser(c); err != nil {
		s.log.Warn("handoff: refused", "err", err)
		return Refused
	}
	if err := readWord(c, msgTake, time.Now().Add(5*time.Second)); err != nil {
		_ = send(c, header{Error: fmt.Sprintf("expected %q (protocol %d): %v", msgTake, version, err)}, nil)
		s.log.Warn("handoff: no request of this protocol from the peer", "err", err)
		return Refused
	}
	t0 := time.Now()
	offer, err := s.g.Freeze()
	if err != nil {
		_ = send(c, header{Error: err.Error()}, nil)
		s.log.Warn("handoff: cannot give", "err", err)
		return Refused
	}
	if err := sendOffer(c, offer); err != nil {
		s.g.Resume()
		s.log.Warn("handoff: sending the sockets failed, serving on", "err", err)
		return Resumed
	}
	s.log.Info("handoff: sockets and lease given, serving until the successor is ready", "sockets", len(offer.Sockets), "lease", offer.Lease)
	if err := readWord(c, msgReady, time.Now().Add(ReadyTimeout)); err != nil {
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if closing {
			// Stopped mid-handoff: the successor, if it lives, keeps the
			// lease; ours must not be revoked under it.
			s.g.Release()
			s.log.Warn("handoff: stopped before the successor was ready; leaving it the lease", "err", err)
			return Stopped
		}
		s.g.Resume()
		_ = sendWord(c, msgResumed) // a successor still starting must give up
		s.log.Warn("handoff: the successor was not ready in time or went away, serving on", "err", err, "readyTimeout", ReadyTimeout)
		return Resumed
	}
	s.g.Release()
	s.ln.Close() // the successor serves the path next
	if err := sendWord(c, msgDone); err != nil {
		s.log.Warn("handoff: telling the successor", "err", err)
	}
	s.log.Info("handoff: released to the successor", "seconds", time.Since(t0).Seconds())
	return Released
}

func sendOffer(c *net.UnixConn, o Offer) error {
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	defer c.SetWriteDeadline(time.Time{})
	if err := inBatches(o.Sockets, func(h header, fds []int) error { return send(c, h, fds) }); err != nil {
		return err
	}
	return send(c, header{Lease: o.Lease, Count: len(o.Sockets), Last: true}, nil)
}

// sameUser checks that the peer runs as this process's user.
func sameUser(c *net.UnixConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("peer credentials: %w", cerr)
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("peer pid %d runs as uid %d, not %d", cred.Pid, cred.Uid, os.Getuid())
	}
	return nil
}
