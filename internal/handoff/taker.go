package handoff

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Taken is a taker's handoff in progress: the offer is its own (the
// descriptors too) until Ready or Abort.
type Taken struct {
	Offer
	c *net.UnixConn

	// From a socket keeper (TakeFrom): the connection stays open after
	// Ready and carries the worker's Keep, Drop and Lease reports.
	keeper bool
	log    *slog.Logger
	wmu    sync.Mutex  // one message at a time
	broken atomic.Bool // a report failed: the keeper is gone or stuck
}

// Take asks the agent serving path for its sockets and lease. With nobody
// there (no socket file, or a stale one) it returns nil, nil: start as
// usual.
func Take(path string, timeout time.Duration) (*Taken, error) {
	c, err := net.DialUnix(network, nil, &net.UnixAddr{Name: path, Net: network})
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("handoff: reach the running agent at %s: %w", path, err)
	}
	if err := sameUser(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("handoff: the agent at %s: %w", path, err)
	}
	t := &Taken{c: c}
	if err := t.receive(timeout, false); err != nil {
		CloseSockets(t.Sockets)
		c.Close()
		return nil, err
	}
	return t, nil
}

// receive reads the offer; with discard the descriptors are closed as
// they come (only their count is checked).
func (t *Taken) receive(timeout time.Duration, discard bool) error {
	_ = t.c.SetDeadline(time.Now().Add(timeout))
	defer t.c.SetDeadline(time.Time{})
	if err := sendWord(t.c, msgTake); err != nil {
		return fmt.Errorf("handoff: ask: %w", err)
	}
	n := 0 // discarded
	for {
		h, fds, err := recv(t.c)
		if err != nil {
			closeAll(fds)
			return err
		}
		for i, k := range h.Keys {
			t.Sockets = append(t.Sockets, Socket{Key: k, FD: fds[i]})
		}
		if discard {
			closeAll(fds)
			n += len(fds)
			t.Sockets = t.Sockets[:0]
		}
		if h.Last {
			if h.Count != n+len(t.Sockets) {
				return fmt.Errorf("handoff: %d sockets announced, %d received", h.Count, n+len(t.Sockets))
			}
			t.Lease = h.Lease
			return nil
		}
	}
}

// Ready tells the giver that the taker serves; it returns once the giver
// has stopped accepting and given up the socket path. ErrResumed: the
// giver gave up waiting and serves on, so the taker must not.
func (t *Taken) Ready(timeout time.Duration) error {
	if !t.keeper {
		defer t.c.Close()
	}
	t.wmu.Lock()
	werr := sendWord(t.c, msgReady)
	t.wmu.Unlock()
	// Read even when the write failed: a giver that resumed said so
	// before it closed.
	switch err := readWord(t.c, msgDone, time.Now().Add(timeout)); {
	case errors.Is(err, ErrResumed):
		return err
	case werr != nil:
		return fmt.Errorf("handoff: tell the giver: %w", werr)
	case err != nil:
		return fmt.Errorf("handoff: the giver's release: %w", err)
	}
	return nil
}

// Abort gives up: the giver resumes serving. The descriptors stay the
// caller's to close.
func (t *Taken) Abort() { t.c.Close() }

// CloseSockets closes the descriptors of ss (sockets taken and not used).
func CloseSockets(ss []Socket) {
	for _, so := range ss {
		_ = unix.Close(so.FD)
	}
}

// FD is the descriptor of a socket (a syscall.Conn: a listener, a packet
// conn), for an offer or a keeper; -1 if c is none. It stays c's.
func FD(c any) int {
	fd := -1
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(f uintptr) { fd = int(f) })
		}
	}
	return fd
}
