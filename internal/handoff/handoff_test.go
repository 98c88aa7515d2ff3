package handoff

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	frozen            atomic.Int64
	mu                sync.Mutex
	outcomes          []Outcome
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
	g.frozen.Add(1)
	if g.freezeErr != nil {
		return Offer{}, g.freezeErr
	}
	o := Offer{Lease: g.lease}
	for _, ln := range g.lns {
		o.Sockets = append(o.Sockets, Socket{Key: Key("tcp", "vpc-a", netip.MustParseAddrPort(ln.Addr().String())), FD: FD(ln)})
	}
	return o, nil
}
func (g *giverOf) record(o Outcome) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.outcomes = append(g.outcomes, o)
}

// ended waits until the handoffs' outcomes are want.
func (g *giverOf) ended(t *testing.T, want ...Outcome) {
	t.Helper()
	var got []Outcome
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		g.mu.Lock()
		got = slices.Clone(g.outcomes)
		g.mu.Unlock()
		if slices.Equal(got, want) {
			return
		}
	}
	t.Errorf("outcomes %v, want %v", got, want)
}

func (g *giverOf) Resume()  { g.resumed <- struct{}{} }
func (g *giverOf) Release() { g.released <- struct{}{} }

func serve(t *testing.T, g Giver) (*Server, string) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	s, err := Serve(path, g, slog.New(slog.DiscardHandler), g.(*giverOf).record)
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
	if n := len(socks.CloseUnused()); n != 448 {
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
	g.ended(t, Released)
	next, err := Serve(path, g, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatalf("the taker cannot serve the path: %v", err)
	}
	next.Close()
}

// TestTakerGoesAway: a taker that goes away before it is ready makes the
// giver resume, not release, and the giver answers the next taker; a
// giver stopped (Close) while its taker starts releases instead, so that
// its lease is left to the taker, not revoked under it.
func TestTakerGoesAway(t *testing.T) {
	g := newGiver(t, 3)
	s, path := serve(t, g)
	tk, err := Take(path, 5*time.Second)
	if err != nil || tk == nil {
		t.Fatalf("Take: %v, %v", tk, err)
	}
	CloseSockets(tk.Sockets)
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
	CloseSockets(tk.Sockets)
	s.Close() // the giver stops mid-handoff
	wait(t, g.released, "Release after Close mid-handoff")
	if err := tk.Ready(time.Second); err == nil || errors.Is(err, ErrResumed) {
		t.Errorf("Ready against a giver that stopped: %v", err)
	}
	g.ended(t, Resumed, Stopped)
}

// TestReadyTimeout: a taker not ready within ReadyTimeout is told the
// giver serves on (ErrResumed), and the giver has resumed.
func TestReadyTimeout(t *testing.T) {
	defer func(d time.Duration) { ReadyTimeout = d }(ReadyTimeout)
	ReadyTimeout = 200 * time.Millisecond
	g := newGiver(t, 2)
	_, path := serve(t, g)
	tk, err := Take(path, 5*time.Second)
	if err != nil || tk == nil {
		t.Fatalf("Take: %v, %v", tk, err)
	}
	CloseSockets(tk.Sockets)
	wait(t, g.resumed, "Resume after ReadyTimeout")
	if err := tk.Ready(time.Second); !errors.Is(err, ErrResumed) {
		t.Errorf("Ready after the giver resumed: %v, want ErrResumed", err)
	}
	select {
	case <-g.released:
		t.Error("released to a taker that was too late")
	default:
	}
	g.ended(t, Resumed)
}

// TestOtherVersionRefused: a taker of another protocol version gets an
// error naming the giver's, and nothing is frozen.
func TestOtherVersionRefused(t *testing.T) {
	g := newGiver(t, 1)
	_, path := serve(t, g)
	c, err := net.DialUnix(network, nil, &net.UnixAddr{Name: path, Net: network})
	must(t, err)
	defer c.Close()
	must(t, sendWord(c, "take 2"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, fds, err := recv(c)
	closeAll(fds)
	if err == nil || !strings.Contains(err.Error(), "protocol 1") {
		t.Errorf("another version: %v", err)
	}
	if n := g.frozen.Load(); n != 0 {
		t.Errorf("froze %d times for another version", n)
	}
	g.ended(t, Refused)
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

// TestServeRefusesAFile: Serve never removes what is not a socket.
func TestServeRefusesAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.sock")
	if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Serve(path, newGiver(t, 1), slog.New(slog.DiscardHandler), nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Serve over a file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep" {
		t.Error("the file was replaced")
	}
}

// TestOtherUserRefused: a process of another user that reaches the socket
// (made world-writable here, as a loose umask or a race at creation
// would) gets nothing: the giver checks the peer's credentials before it
// freezes.
func TestOtherUserRefused(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("helper")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a taker as another user")
	}
	dir, err := os.MkdirTemp("", "handoff-uid-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	must(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "handoff.test")
	self, err := os.ReadFile(os.Args[0])
	must(t, err)
	must(t, os.WriteFile(bin, self, 0o755))
	g := newGiver(t, 1)
	path := filepath.Join(dir, "agent.sock")
	s, err := Serve(path, g, slog.New(slog.DiscardHandler), g.record)
	must(t, err)
	defer s.Close()
	must(t, os.Chmod(path, 0o666))

	cmd := exec.Command(bin, "-test.run=^TestTakerHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "TAKE FAILED") {
		t.Errorf("another user's take did not fail:\n%s", out)
	}
	if n := g.frozen.Load(); n != 0 {
		t.Errorf("the giver froze %d times for another user", n)
	}
	tk, err := Take(path, 5*time.Second) // the same user still can
	if err != nil || tk == nil {
		t.Fatalf("take as the same user afterwards: %v", err)
	}
	CloseSockets(tk.Sockets)
	tk.Abort()
	g.ended(t, Refused, Resumed)
}

const helperEnv = "HANDOFF_TAKER_HELPER"

// TestTakerHelper is TestOtherUserRefused's taker, run as another user.
func TestTakerHelper(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("run by TestOtherUserRefused")
	}
	tk, err := Take(path, 5*time.Second)
	if err != nil || tk == nil {
		fmt.Println("TAKE FAILED:", err)
		return
	}
	fmt.Println("TOOK", len(tk.Sockets), "sockets")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
