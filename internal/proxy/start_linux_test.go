//go:build linux

package proxy

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestStart: on the engine, Start serves without a goroutine per Listener
// (64 listeners proxy round trips with no goroutine added), Serve after
// Start is refused, and Close stops each (connections refused). Without
// the engine Start does nothing and reports false: Serve then serves.
func TestStart(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	cfg := modeConfig(func(*Config) {}, srv.addr())
	listen := func() net.Listener {
		t.Helper()
		lc := ListenConfig()
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
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
				ln := listen()
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
			for _, a := range addrs {
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
