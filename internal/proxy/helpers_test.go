package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// directDial is the DialFunc of the tests.
var directDial DialFunc = Dial

// listenerOpts are the options of the tests' Listeners; TestMain runs the
// suite once on the engine and once on goroutines.
var listenerOpts []Option

// checkGoroutines fails t if goroutines started during the test are still
// running after every later-registered cleanup has run. Call it first.
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var now int
		for i := 0; i < 100; i++ {
			if now = runtime.NumGoroutine(); now <= before {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutine leak: %d before, %d after\n%s", before, now, buf)
	})
}

// server is a test backend on 127.0.0.1.
type server struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// startServer serves handler on every accepted connection; proxyProto makes
// the server expect a PROXY header first (the handler gets a
// *proxyproto.Conn).
func startServer(t testing.TB, proxyProto bool, handler func(net.Conn)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			if proxyProto {
				c = proxyproto.NewConn(c, proxyproto.SetReadHeaderTimeout(5*time.Second))
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				handler(c)
			}()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *server) addr() netip.AddrPort { return s.ln.Addr().(*net.TCPAddr).AddrPort() }

// stop closes the listener and every connection and waits for handlers.
func (s *server) stop() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// echo copies everything back and half-closes at EOF.
func echo(c net.Conn) {
	io.Copy(c, c)
	closeWrite(c)
}

// startProxy starts a Listener on 127.0.0.1 and closes it at cleanup.
func startProxy(t testing.TB, cfg Config, h *Health, m *Metrics, opts ...Option) (*Listener, string) {
	t.Helper()
	lc := ListenConfig()
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(ln, cfg, directDial, h, m, append(slices.Clone(listenerOpts), opts...)...)
	served := make(chan error, 1)
	go func() { served <- l.Serve() }()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve returned %v after Close", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return l, ln.Addr().String()
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads the same number of bytes back.
func roundTrip(t testing.TB, c net.Conn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf)
}

// readLine reads one newline-terminated line from c.
func readLine(c net.Conn) (string, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	s, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

// waitClosed waits up to d for c to be closed by the other side and returns
// how long that took; it fails if data arrives or the deadline passes.
func waitClosed(t testing.TB, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	var b [1]byte
	n, err := c.Read(b[:])
	if n > 0 {
		t.Fatalf("unexpected data %q", b[:n])
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", d)
	}
	return time.Since(start)
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exchange dials addr, writes msg and reads len(msg) bytes back. It returns
// the error of the write (or dial) and of the read. On loopback a reset by
// the proxy can beat connect(2)'s completion, so a dial error is returned
// like a write error.
func exchange(addr, msg string) (werr, rerr error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, werr = io.WriteString(c, msg)
	_, rerr = io.ReadFull(c, make([]byte, len(msg)))
	return werr, rerr
}

// listenLocal is a loopback listener with the proxy's socket options.
func listenLocal(t testing.TB) net.Listener {
	t.Helper()
	lc := ListenConfig()
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// roundTripsThenClose checks that each listener but skip (-1: none)
// carries a round trip at its address, then that Close stops each.
func roundTripsThenClose(t *testing.T, ls []*Listener, addrs []string, skip int) {
	t.Helper()
	for i, a := range addrs {
		if i == skip {
			continue
		}
		c := dial(t, a)
		if got := roundTrip(t, c, "hello"); got != "hello" {
			t.Errorf("%s: %q", a, got)
		}
		c.Close()
	}
	for i, l := range ls {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if c, err := net.DialTimeout("tcp", addrs[i], time.Second); err == nil {
			c.Close()
			t.Errorf("%s accepts after Close", addrs[i])
		}
	}
}
