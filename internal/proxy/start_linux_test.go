//go:build linux

package proxy

import (
	"runtime"
	"testing"
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
