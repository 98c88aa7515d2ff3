package proxy

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, l *Listener)
	}{
		{"close before serve", func(t *testing.T, l *Listener) {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- l.Serve() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Serve after Close = %v", err)
				}
			case <-time.After(time.Second):
				t.Fatal("Serve after Close blocked")
			}
		}},
		{"serve twice and close twice", func(t *testing.T, l *Listener) {
			done := make(chan error, 1)
			go func() { done <- l.Serve() }()
			eventually(t, time.Second, "Serve to start", func() bool {
				l.mu.Lock()
				defer l.mu.Unlock()
				return l.serving
			})
			if err := l.Serve(); err == nil {
				t.Fatal("second Serve returned nil")
			}
			var wg sync.WaitGroup
			for i := 0; i < 2; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := l.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				}()
			}
			wg.Wait()
			if err := <-done; err != nil {
				t.Fatalf("Serve = %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			l := NewListener(listenLocal(t), Config{}, directDial, nil, nil, listenerOpts...)
			tc.run(t, l)
			l.Close()
		})
	}
}

// TestConcurrentUpdateAndClose runs connections while Update flips the
// config and Close races with everything; run it with -race.
func TestConcurrentUpdateAndClose(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	srv2 := startServer(t, false, echo)
	h := NewHealth(directDial, 10*time.Millisecond, time.Second, nil)
	defer h.Close()
	h.Track([]netip.AddrPort{srv.addr(), srv2.addr()})
	cfgs := []Config{
		modeConfig(modes[0].cfg, srv.addr()),
		modeConfig(modes[1].cfg, srv2.addr()),
		modeConfig(modes[2].cfg, srv.addr(), srv2.addr()),
	}
	cfgs[2].ProxyProtocol = false // both backends speak plain TCP
	cfgs[0].IdleTimeout = 50 * time.Millisecond
	l, addr := startProxy(t, cfgs[0], h, NewMetrics(nil))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			l.Update(cfgs[i%len(cfgs)])
			time.Sleep(time.Millisecond)
		}
	}()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := exchange(addr, "hello"); err != nil {
					t.Errorf("exchange: %v", err)
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	// Some connections stay open until Close.
	var open []net.Conn
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		open = append(open, c)
	}
	close(stop)
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range open {
		waitClosed(t, c, time.Second)
	}
	if n := l.ActiveConns(); n != 0 {
		t.Fatalf("ActiveConns = %d after Close", n)
	}
}
