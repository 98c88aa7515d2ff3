package handoff

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A socket keeper (package keeper) is a small parent process that holds
// a copy of every listening socket of its worker, the agent, and the
// worker's lease ID. When the worker dies without stopping (a crash, an
// OOM kill), the keeper starts another that takes both over with the
// handoff protocol on the connection it was started with (TakeFrom): the
// sockets never close, so clients wait in their queues instead of being
// refused. After its "ready" the worker reports on the same connection
// each socket it opens ({"keys":[...]} with the descriptors) or closes
// ({"drop":[...]}) and each new lease ({"lease":ID}).

// Keeper is where an agent under a socket keeper reports its listening
// sockets and lease as they change. The descriptors passed to Keep stay
// the caller's (the kernel gives the keeper its own).
type Keeper interface {
	Keep(socks []Socket)
	Drop(keys []string)
	SetLease(id int64)
}

// TakeFrom is Take from the socket keeper at the other end of c, the
// connection the keeper started this process with: it offers what the
// previous worker kept (nothing at the first start). The connection stays
// open after Ready, and the Taken is then the Keeper the agent reports to.
// With discard the offered sockets are closed as they come (a reload:
// the running agent hands over the same sockets, and holding both sets
// at once would need twice the descriptors).
func TakeFrom(c *net.UnixConn, timeout time.Duration, log *slog.Logger, discard bool) (*Taken, error) {
	t := &Taken{c: c, keeper: true, log: log}
	if err := t.receive(timeout, discard); err != nil {
		CloseSockets(t.Sockets)
		return nil, fmt.Errorf("socket keeper: %w", err)
	}
	return t, nil
}

// reportTimeout bounds one report to the keeper: a keeper that stopped
// reading must not stall the agent's rounds.
const reportTimeout = 5 * time.Second

// dropsPerMsg keeps a drop message far below maxMsg (keys are < 64 bytes).
const dropsPerMsg = 500

// Keep implements Keeper.
func (t *Taken) Keep(socks []Socket) {
	_ = inBatches(socks, func(h header, fds []int) error { t.report(h, fds); return nil })
}

// Drop implements Keeper.
func (t *Taken) Drop(keys []string) {
	for i := 0; i < len(keys); i += dropsPerMsg {
		t.report(header{Drop: keys[i:min(i+dropsPerMsg, len(keys))]}, nil)
	}
}

// SetLease implements Keeper.
func (t *Taken) SetLease(id int64) { t.report(header{Lease: id}, nil) }

// report sends one message to the keeper; after a failure no more are
// sent (the keeper is gone or stuck: a crash now would be a cold start).
func (t *Taken) report(h header, fds []int) {
	if !t.keeper || t.broken.Load() {
		return
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	_ = t.c.SetWriteDeadline(time.Now().Add(reportTimeout))
	err := send(t.c, h, fds)
	_ = t.c.SetWriteDeadline(time.Time{})
	if err != nil && !t.broken.Swap(true) {
		t.log.Error("socket keeper: report failed; a crash of this process will not be bridged", "err", err)
	}
}

// Held is a socket keeper's side: the sockets and lease its workers kept.
// Every worker's sockets are held, but only the current worker's drops
// and lease count: during a reload the worker being replaced closes
// sockets its successor serves on.
type Held struct {
	mu    sync.Mutex
	fds   map[string]int
	lease int64
	cur   int // the current worker's id
}

// SetCurrent makes worker id the current one.
func (h *Held) SetCurrent(id int) {
	h.mu.Lock()
	h.cur = id
	h.mu.Unlock()
}

// NewHeld returns an empty store.
func NewHeld() *Held { return &Held{fds: map[string]int{}} }

// Len is how many sockets are held.
func (h *Held) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.fds)
}

// Lease is the last lease a worker reported (0: none).
func (h *Held) Lease() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lease
}

// Close closes every held socket (the lease ID is kept: a worker started
// later finds out from etcd whether it still exists).
func (h *Held) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, fd := range h.fds {
		_ = unix.Close(fd)
		delete(h.fds, k)
	}
}

// Serve serves worker id on c until it goes away (the error says how):
// it offers what is held once the worker asks, answers its "ready"
// (calling ready), and holds what the worker then reports.
func (h *Held) Serve(c *net.UnixConn, id int, ready func()) error {
	if err := readWord(c, msgTake, time.Now().Add(time.Minute)); err != nil {
		_ = send(c, header{Error: fmt.Sprintf("expected %q (protocol %d): %v", msgTake, version, err)}, nil)
		return fmt.Errorf("no request of this protocol from the worker: %w", err)
	}
	h.mu.Lock()
	o := Offer{Lease: h.lease, Sockets: make([]Socket, 0, len(h.fds))}
	for k, fd := range h.fds {
		o.Sockets = append(o.Sockets, Socket{Key: k, FD: fd})
	}
	err := sendOffer(c, o) // under mu: no descriptor closes while it is sent
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	for {
		b, fds, err := recvRaw(c)
		if err != nil {
			closeAll(fds)
			return err
		}
		if string(b) == msgReady {
			ready()
			if err := sendWord(c, msgDone); err != nil {
				return err
			}
			continue
		}
		m, fds, err := decode(b, fds)
		if err != nil {
			closeAll(fds)
			return err
		}
		h.apply(id, m, fds)
	}
}

// apply holds (replacing any held under the same key), drops and
// records what one report of worker id says.
func (h *Held) apply(id int, m header, fds []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, k := range m.Keys {
		if old, ok := h.fds[k]; ok {
			_ = unix.Close(old)
		}
		h.fds[k] = fds[i]
	}
	if id != h.cur {
		return // replaced: its drops and lease are its successor's business
	}
	for _, k := range m.Drop {
		if fd, ok := h.fds[k]; ok {
			_ = unix.Close(fd)
			delete(h.fds, k)
		}
	}
	if m.Lease != 0 {
		h.lease = m.Lease
	}
}
