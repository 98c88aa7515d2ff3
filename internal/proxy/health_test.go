package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, func(net.Conn) {})
	dead := startServer(t, false, func(net.Conn) {})
	deadAddr := dead.addr()
	dead.stop()
	unknown := netip.MustParseAddrPort("192.0.2.1:9")

	var nilHealth *Health
	if !nilHealth.Healthy(unknown) {
		t.Fatal("nil Health reports unhealthy")
	}

	// A long interval: only the prompt first check can mark deadAddr down.
	h := NewHealth(directDial, time.Hour, time.Second, nil)
	defer h.Close()
	if !h.Healthy(unknown) {
		t.Fatal("unknown address not healthy")
	}
	h.Track([]netip.AddrPort{srv.addr(), deadAddr})
	eventually(t, 2*time.Second, "first check", func() bool { return !h.Healthy(deadAddr) })
	if !h.Healthy(srv.addr()) {
		t.Fatal("live backend unhealthy")
	}

	h.markDown(unknown) // untracked: ignored
	if !h.Healthy(unknown) {
		t.Fatal("markDown of an untracked address took effect")
	}
	h.markDown(srv.addr())
	if h.Healthy(srv.addr()) {
		t.Fatal("markDown of a tracked address had no effect")
	}
	eventually(t, 2*time.Second, "re-check after Track", func() bool {
		h.Track([]netip.AddrPort{srv.addr()}) // also forgets deadAddr
		return h.Healthy(srv.addr())
	})
	if !h.Healthy(deadAddr) {
		t.Fatal("untracked address kept its state")
	}
}

func TestHealthRecovers(t *testing.T) {
	checkGoroutines(t)
	var up atomic.Bool
	var probes atomic.Int64
	fake := func(ctx context.Context, a netip.AddrPort) (net.Conn, error) {
		probes.Add(1)
		if !up.Load() {
			return nil, errors.New("refused")
		}
		c1, c2 := net.Pipe()
		c2.Close()
		return c1, nil
	}
	a := netip.MustParseAddrPort("10.1.2.3:443")
	h := NewHealth(fake, 10*time.Millisecond, 100*time.Millisecond, nil)
	h.Track([]netip.AddrPort{a})
	eventually(t, 2*time.Second, "down", func() bool { return !h.Healthy(a) })
	up.Store(true)
	eventually(t, 2*time.Second, "up again", func() bool { return h.Healthy(a) })
	h.Close()
	h.Close() // idempotent
	n := probes.Load()
	time.Sleep(50 * time.Millisecond)
	if probes.Load() != n {
		t.Fatal("probes continue after Close")
	}
}

// TestHealthLastCheck: each tracked backend's last check says whether it
// answered, how long the connect took, when, and why it failed.
func TestHealthLastCheck(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, func(net.Conn) {})
	dead := startServer(t, false, func(net.Conn) {})
	deadAddr := dead.addr()
	dead.stop()

	h := NewHealth(directDial, time.Hour, time.Second, nil)
	defer h.Close()
	if _, ok := h.LastCheck(srv.addr()); ok {
		t.Fatal("untracked address has a check")
	}
	before := time.Now()
	h.Track([]netip.AddrPort{srv.addr(), deadAddr})
	eventually(t, 2*time.Second, "first checks", func() bool {
		_, a := h.LastCheck(srv.addr())
		_, b := h.LastCheck(deadAddr)
		return a && b
	})
	live, _ := h.LastCheck(srv.addr())
	if !live.Healthy || live.Err != "" || live.Latency <= 0 || live.Latency > time.Second || live.Time.Before(before) || live.Passive {
		t.Errorf("live backend's check: %+v", live)
	}
	down, _ := h.LastCheck(deadAddr)
	if down.Healthy || down.Err == "" || down.Time.Before(before) {
		t.Errorf("dead backend's check: %+v", down)
	}
	h.markDown(srv.addr())
	if c, _ := h.LastCheck(srv.addr()); c.Healthy || !c.Passive || c.Err == "" {
		t.Errorf("after a data-path dial failure: %+v", c)
	}
	h.Track([]netip.AddrPort{srv.addr()})
	if _, ok := h.LastCheck(deadAddr); ok {
		t.Error("a backend no longer tracked kept its check")
	}
	var nilHealth *Health
	if _, ok := nilHealth.LastCheck(srv.addr()); ok {
		t.Error("nil Health has a check")
	}
}
