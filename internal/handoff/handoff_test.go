package handoff

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// giverOf is a Giver over real listening sockets that records what the
// protocol asked of it.
type giverOf struct {
	lns               []*net.TCPListener
	lease             int64
	freezeErr         error
	resumed, released chan struct{}
}

func newGiver(t *testing.T, n int) *giverOf {
	g := &giverOf{lease: 0x1234, resumed: make(chan struct{}, 1), released: make(chan struct{}, 1)}
	for range n {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		g.lns = append(g.lns, ln)
	}
	return g
}

func (g *giverOf) Freeze() (Offer, error) {
	if g.freezeErr != nil {
		return Offer{}, g.freezeErr
	}
	o := Offer{Lease: g.lease}
	for _, ln := range g.lns {
		rc, _ := ln.SyscallConn()
		_ = rc.Control(func(fd uintptr) {
			o.Sockets = append(o.Sockets, Socket{Key: Key("tcp", "vpc-a", netip.MustParseAddrPort(ln.Addr().String())), FD: int(fd)})
		})
	}
	return o, nil
}
func (g *giverOf) Resume()  { g.resumed <- struct{}{} }
func (g *giverOf) Release() { g.released <- struct{}{} }

func serve(t *testing.T, g Giver) (*Server, string) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	s, err := Serve(path, g, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, path
}

func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s", what)
	}
}

// TestHandOver: 450 sockets (three batches) arrive in order as the very
// sockets the giver listens on (a connection to the giver's address is
// accepted by the taker), with the lease; Ready releases the giver and
// frees the path for the taker's own Serve.
func TestHandOver(t *testing.T) {
	g := newGiver(t, 450)
	s, path := serve(t, g)
	tk, err := Take(path, 5*time.Second)
	if err != nil || tk == nil {
		t.Fatalf("Take: %v, %v", tk, err)
	}
	if tk.Lease != g.lease || len(tk.Sockets) != len(g.lns) {
		t.Fatalf("got lease %x and %d sockets, want %x and %d", tk.Lease, len(tk.Sockets), g.lease, len(g.lns))
	}
	socks := NewSockets(nil, tk.Sockets)
	for i, ln := range []*net.TCPListener{g.lns[0], g.lns[449]} {
		ap := netip.MustParseAddrPort(ln.Addr().String())
		taken, err := socks.Listener(Key("tcp", "vpc-a", ap))
		if err != nil || taken == nil {
			t.Fatalf("socket %d not handed over: %v", i, err)
		}
		ln.Close() // the giver stops accepting; the socket lives on in the taker
		c, err := net.Dial("tcp4", ap.String())
		if err != nil {
			t.Fatalf("dial the giver's address after it closed its copy: %v", err)
		}
		_ = taken.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		ac, err := taken.Accept()
		if err != nil {
			t.Fatalf("the taker's copy does not accept: %v", err)
		}
		ac.Close()
		c.Close()
		taken.Close()
	}
	if n := socks.CloseUnused(); n != 448 {
		t.Errorf("CloseUnused closed %d, want 448", n)
	}
	if err := tk.Ready(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	wait(t, g.released, "Release")
	wait(t, s.Released(), "Released")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the path is still there after the release: %v", err)
	}
	next, err := Serve(path, g, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("the taker cannot serve the path: %v", err)
	}
	next.Close()
}

// TestTakerGoesAway: a taker that goes away before it is ready (or a
// giver closed meanwhile) makes the giver resume, not release, and the
// giver answers the next taker.
func TestTakerGoesAway(t *testing.T) {
	g := newGiver(t, 3)
	s, path := serve(t, g)
	tk, err := Take(path, 5*time.Second)
	if err != nil || tk == nil {
		t.Fatalf("Take: %v, %v", tk, err)
	}
	closeAll(socketFDs(tk.Sockets))
	tk.Abort()
	wait(t, g.resumed, "Resume after the taker went away")
	select {
	case <-g.released:
		t.Fatal("released to a taker that went away")
	default:
	}
	tk, err = Take(path, 5*time.Second)
	if err != nil || tk == nil || len(tk.Sockets) != 3 {
		t.Fatalf("second Take: %v, %v", tk, err)
	}
	closeAll(socketFDs(tk.Sockets))
	s.Close() // the giver stops mid-handoff
	wait(t, g.resumed, "Resume after Close")
	if err := tk.Ready(time.Second); err == nil {
		t.Error("Ready succeeded against a closed giver")
	}
}

// TestNoGiver: no socket file, or a stale one, is "start as usual"; a
// giver that refuses says why.
func TestNoGiver(t *testing.T) {
	dir := t.TempDir()
	if tk, err := Take(filepath.Join(dir, "none.sock"), time.Second); tk != nil || err != nil {
		t.Errorf("no file: %v, %v", tk, err)
	}
	stale := filepath.Join(dir, "stale.sock")
	fd, _ := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: stale}); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	if tk, err := Take(stale, time.Second); tk != nil || err != nil {
		t.Errorf("stale file: %v, %v", tk, err)
	}
	g := newGiver(t, 1)
	g.freezeErr = errors.New("not synced yet")
	_, path := serve(t, g)
	if _, err := Take(path, time.Second); err == nil || !strings.Contains(err.Error(), "not synced yet") {
		t.Errorf("refusal: %v", err)
	}
}
