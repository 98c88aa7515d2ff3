//go:build linux

package proxy

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStart: on the engine, Start serves without a goroutine per Listener
// (64 listeners proxy round trips with no goroutine added), Serve after
// Start is refused, and Close stops each (connections refused). Without
// the engine Start does nothing and reports false: Serve then serves.
func TestStart(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	cfg := modeConfig(func(*Config) {}, srv.addr())
	for _, tc := range []struct {
		name   string
		opts   []Option
		engine bool
	}{{"engine", []Option{WithSockets(Socket)}, true}, {"goroutines", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 64
			before := runtime.NumGoroutine()
			ls := make([]*Listener, n)
			addrs := make([]string, n)
			served := make(chan error, n)
			for i := range ls {
				ln := listenLocal(t)
				addrs[i] = ln.Addr().String()
				ls[i] = NewListener(ln, cfg, directDial, nil, nil, tc.opts...)
				ok, err := ls[i].Start()
				if ok != tc.engine || err != nil {
					t.Fatalf("Start = %v, %v; want %v", ok, err, tc.engine)
				}
				if !ok {
					go func() { served <- ls[i].Serve() }()
				}
			}
			if tc.engine {
				// Loops may have started with the shared engine: allow them.
				if now := runtime.NumGoroutine(); now > before+engineLoops()+1 {
					t.Errorf("%d goroutines after starting %d listeners, %d before", now, n, before)
				}
				if err := ls[0].Serve(); err == nil {
					t.Error("Serve after Start succeeded")
				}
			}
			roundTripsThenClose(t, ls, addrs, -1)
			if !tc.engine {
				for range n {
					if err := <-served; err != nil {
						t.Errorf("Serve: %v", err)
					}
				}
			}
		})
	}
}

// TestStartMany: StartMany registers 64 listeners with the engine at once;
// a closed one and one already started fail alone, every other proxies
// round trips with no goroutine added and stops on Close; Listeners
// without the engine are left for Serve (started false, no error).
func TestStartMany(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	cfg := modeConfig(func(*Config) {}, srv.addr())
	const n = 64
	ls := make([]*Listener, n)
	addrs := make([]string, n)
	for i := range ls {
		ln := listenLocal(t)
		addrs[i] = ln.Addr().String()
		var opts []Option
		if i != 7 { // 7 runs on goroutines
			opts = []Option{WithSockets(Socket)}
		}
		ls[i] = NewListener(ln, cfg, directDial, nil, nil, opts...)
	}
	const closed, early = 3, 5
	ls[closed].Close()
	if ok, err := ls[early].Start(); !ok || err != nil {
		t.Fatalf("Start: %v, %v", ok, err)
	}
	if _, err := sharedEngine(); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	started, errs := StartMany(ls)
	if now := runtime.NumGoroutine(); now > before {
		t.Errorf("%d goroutines after StartMany, %d before", now, before)
	}
	served := make(chan error, 1)
	for i := range ls {
		switch {
		case i == closed || i == early:
			if errs[i] == nil {
				t.Errorf("listener %d: StartMany succeeded", i)
			}
		case i == 7:
			if started[i] || errs[i] != nil {
				t.Errorf("listener 7 (no engine): %v, %v", started[i], errs[i])
			}
			go func() { served <- ls[7].Serve() }()
		case !started[i] || errs[i] != nil:
			t.Errorf("listener %d: %v, %v", i, started[i], errs[i])
		}
	}
	roundTripsThenClose(t, ls, addrs, closed)
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestStopAccepting: after StopAcceptingMany (a handoff) a connection open
// through each Listener keeps proxying, and new connections to its address
// are accepted by whoever else holds the socket (the successor, here a
// duplicate of FD taken before), not by the Listener; Close then ends the
// open connections.
func TestStopAccepting(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	var logs lockedLog
	cfg := modeConfig(func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) }, srv.addr())
	const n = 32
	ls := make([]*Listener, n)
	succ := make([]net.Listener, n)
	open := make([]net.Conn, n)
	for i := range ls {
		ln := listenLocal(t)
		ls[i] = NewListener(ln, cfg, directDial, nil, nil, WithSockets(Socket))
		if ok, err := ls[i].Start(); !ok || err != nil {
			t.Fatalf("Start: %v %v", ok, err)
		}
		fd, err := unix.FcntlInt(uintptr(ls[i].FD()), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fd), "successor")
		succ[i], err = net.FileListener(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer succ[i].Close()
		if open[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		defer open[i].Close()
		if err := echoOn(open[i], "before"); err != nil {
			t.Fatalf("listener %d before: %v", i, err)
		}
	}
	if err := StopAcceptingMany(ls); err != nil {
		t.Fatal(err)
	}
	for i, l := range ls {
		if l.FD() != -1 {
			t.Errorf("listener %d still has its socket", i)
		}
		if err := echoOn(open[i], "after"); err != nil {
			t.Errorf("listener %d: open connection after StopAcceptingMany: %v", i, err)
		}
		c, err := net.Dial("tcp", succ[i].Addr().String())
		if err != nil {
			t.Fatalf("dial after StopAcceptingMany: %v", err)
		}
		succ[i].(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
		ac, err := succ[i].Accept()
		if err != nil {
			t.Errorf("listener %d: the successor did not get the new connection: %v", i, err)
		} else {
			ac.Close()
		}
		c.Close()
	}
	if strings.Contains(logs.String(), "accept failed") {
		t.Errorf("the engine still watched a socket it stopped accepting on:\n%s", logs.String())
	}
	for i, l := range ls {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := echoOn(open[i], "closed"); err == nil {
			t.Errorf("listener %d: connection still proxied after Close", i)
		}
	}
}

// echoOn writes s and reads it back through c.
func echoOn(c net.Conn, s string) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, s); err != nil {
		return err
	}
	buf := make([]byte, len(s))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != s {
		return fmt.Errorf("echo %q", buf)
	}
	return nil
}

// lockedLog is a log destination safe for the engine's loops.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
