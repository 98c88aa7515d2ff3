package handoff

import (
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// worker connects a worker to h as the keeper's worker id would be, and
// takes (TakeFrom) what h offers.
func worker(t *testing.T, h *Held, id int, discard bool) (*Taken, <-chan struct{}, <-chan error) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "pair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	keeperEnd, workerEnd := conn(fds[0]), conn(fds[1])
	ready, served := make(chan struct{}), make(chan error, 1)
	go func() { served <- h.Serve(keeperEnd, id, func() { close(ready) }) }()
	t.Cleanup(func() { keeperEnd.Close(); workerEnd.Close() })
	tk, err := TakeFrom(workerEnd, 5*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), discard)
	if err != nil {
		t.Fatal(err)
	}
	return tk, ready, served
}

// TestHeld: what a worker keeps (450 sockets, 3 batches) and its lease
// are offered to the next, whose drops count; a replaced worker's drops
// do not; discard takes the lease without the descriptors.
func TestHeld(t *testing.T) {
	h := NewHeld()
	defer h.Close()
	h.SetCurrent(1)
	w1, ready, _ := worker(t, h, 1, false)
	if len(w1.Sockets) != 0 || w1.Lease != 0 {
		t.Fatalf("first offer: %d sockets, lease %x", len(w1.Sockets), w1.Lease)
	}
	g := newGiver(t, 450)
	o, _ := g.Freeze()
	w1.Keep(o.Sockets)
	w1.SetLease(0x77)
	if err := w1.Ready(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	wait(t, ready, "the keeper's ready")
	if h.Len() != 450 || h.Lease() != 0x77 {
		t.Fatalf("held %d sockets, lease %x", h.Len(), h.Lease())
	}

	// A reload: worker 2 is current; worker 1's drops no longer count.
	h.SetCurrent(2)
	w1.Drop([]string{o.Sockets[0].Key})
	time.Sleep(50 * time.Millisecond) // the keeper has read it by now
	w2, _, _ := worker(t, h, 2, true)
	if len(w2.Sockets) != 0 || w2.Lease != 0x77 {
		t.Fatalf("discarded offer: %d sockets, lease %x", len(w2.Sockets), w2.Lease)
	}
	if h.Len() != 450 {
		t.Fatalf("a replaced worker's drop counted: %d held", h.Len())
	}
	w2.Drop([]string{o.Sockets[1].Key})
	for deadline := time.Now().Add(5 * time.Second); h.Len() != 449; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the current worker's drop: %d held", h.Len())
		}
	}
	w3, _, _ := worker(t, h, 3, false)
	defer CloseSockets(w3.Sockets)
	if len(w3.Sockets) != 449 {
		t.Fatalf("after the current worker's drop: %d sockets offered, want 449", len(w3.Sockets))
	}
	// The offered sockets are the kept ones.
	for _, so := range w3.Sockets {
		if so.Key == o.Sockets[1].Key {
			t.Fatal("a dropped socket was offered")
		}
	}
}
