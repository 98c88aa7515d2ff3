package proxy

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// hold opens a proxied connection and checks it carries a byte both ways;
// the connection stays open until the test ends. A connection the proxy
// refused fails with the reset (or EOF).
func hold(t testing.TB, addr string) (net.Conn, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err = c.Write([]byte("x")); err == nil {
		_, err = io.ReadFull(c, make([]byte, 1))
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// holdN opens n connections and returns those that carried traffic and the
// number refused.
func holdN(t testing.TB, addr string, n int) (ok []net.Conn, refused int) {
	t.Helper()
	for range n {
		c, err := hold(t, addr)
		if err != nil {
			refused++
			continue
		}
		ok = append(ok, c)
	}
	return ok, refused
}

func rejected(t testing.TB, m *Metrics, ep, reason string) float64 {
	t.Helper()
	return toFloat64(t, m.rejected.WithLabelValues(ep, "a", reason))
}

// TestEndpointConnLimit: MaxConns bounds the endpoint's connections over
// all its Listeners (ports); excess is reset and counted; another
// endpoint is not affected; a closed connection frees its place.
func TestEndpointConnLimit(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	b := NewBudget(1 << 16)
	m := NewMetrics(prometheus.NewRegistry())
	cfg := modeConfig(modes[0].cfg, srv.addr())
	cfg.MaxConns = 3
	_, port1 := startProxy(t, cfg, nil, m, WithBudget(b))
	_, port2 := startProxy(t, cfg, nil, m, WithBudget(b)) // the endpoint's second port
	other := cfg
	other.EndpointID, other.MaxConns = "ep-2", 0
	_, otherAddr := startProxy(t, other, nil, m, WithBudget(b))

	first, refused := holdN(t, port1, 2)
	if len(first) != 2 {
		t.Fatalf("%d of the first 2 connections refused", refused)
	}
	if _, err := hold(t, port2); err != nil {
		t.Fatalf("third connection (other port) refused: %v", err)
	}
	for _, addr := range []string{port1, port2} {
		if _, err := hold(t, addr); err == nil {
			t.Fatalf("a fourth connection to the endpoint (%s) was proxied", addr)
		}
	}
	if got := rejected(t, m, "ep-1", "conn_limit"); got != 2 {
		t.Errorf("rejected{reason=conn_limit} = %v, want 2", got)
	}
	if ok, refused := holdN(t, otherAddr, 4); refused != 0 {
		t.Errorf("another endpoint: %d of 4 refused (%d ok)", refused, len(ok))
	}
	first[0].Close()
	eventually(t, 2*time.Second, "a place freed by a closed connection", func() bool {
		_, err := hold(t, port1)
		return err == nil
	})
}

// TestEndpointRateLimit: NewConnsPerSec admits a burst of one second's
// worth, then that rate; the excess is reset and counted.
func TestEndpointRateLimit(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	m := NewMetrics(prometheus.NewRegistry())
	cfg := modeConfig(modes[0].cfg, srv.addr())
	cfg.NewConnsPerSec = 10
	_, addr := startProxy(t, cfg, nil, m, WithBudget(NewBudget(1<<16)))
	const tries = 40
	start := time.Now()
	ok := 0
	for range tries {
		if c, err := hold(t, addr); err == nil {
			ok++
			c.Close()
		}
	}
	elapsed := time.Since(start)
	// The burst (10) plus what accrued meanwhile, one more for rounding.
	if most := 10 + int(10*elapsed.Seconds()) + 1; ok < 10 || ok > most {
		t.Errorf("%d of %d connections admitted in %v, want 10..%d", ok, tries, elapsed, most)
	}
	if got := rejected(t, m, "ep-1", "rate_limit"); got != float64(tries-ok) {
		t.Errorf("rejected{reason=rate_limit} = %v, want %d", got, tries-ok)
	}
	t.Logf("%d of %d connections admitted in %v at 10/s", ok, tries, elapsed)
}

// TestBudgetFlood: a flood on one endpoint takes at most its share of the
// descriptor budget; floods on three endpoints leave the last quarter to
// endpoints holding few connections, which still connect.
func TestBudgetFlood(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	m := NewMetrics(prometheus.NewRegistry())
	b := NewBudget(256) // 128 connections; 32 per endpoint; the last 64 descriptors for endpoints under 2
	if b.EndpointCap() != 32 {
		t.Fatalf("EndpointCap = %d, want 32", b.EndpointCap())
	}
	addrs := map[string]string{}
	for _, ep := range []string{"ep-a", "ep-b", "ep-c", "ep-d", "ep-e"} {
		cfg := modeConfig(modes[0].cfg, srv.addr())
		cfg.EndpointID = ep
		_, addrs[ep] = startProxy(t, cfg, nil, m, WithBudget(b))
	}
	for i, tc := range []struct {
		ep          string
		try, wantOK int
	}{
		{"ep-a", 40, 32}, // its share, no more
		{"ep-b", 2, 2},   // another tenant connects during the flood
		{"ep-b", 38, 30},
		{"ep-c", 40, 32}, // now 3/4 of the budget in use
		{"ep-d", 3, 2},   // small endpoints still connect, up to 2 each
		{"ep-e", 3, 2},
	} {
		ok, refused := holdN(t, addrs[tc.ep], tc.try)
		if len(ok) != tc.wantOK {
			t.Errorf("step %d: %s: %d of %d connections admitted, want %d", i, tc.ep, len(ok), tc.try, tc.wantOK)
		}
		if got := rejected(t, m, tc.ep, "fd_budget"); tc.try-tc.wantOK > 0 && got < float64(refused) {
			t.Errorf("step %d: %s: rejected{reason=fd_budget} = %v, want >= %d", i, tc.ep, got, refused)
		}
	}
	if got, want := b.InUse(), (32+32+32+2+2)*connFDs; got != want {
		t.Errorf("budget in use = %d descriptors, want %d", got, want)
	}
}

// TestBandwidthSharedPerEndpoint: two parallel bulk transfers through one
// endpoint (two ports) share its cap: together they stay near it.
func TestBandwidthSharedPerEndpoint(t *testing.T) {
	const (
		mbps = 8 // 1 MB/s each direction
		size = 512 << 10
	)
	for _, dir := range []string{"in", "out"} {
		t.Run(dir, func(t *testing.T) {
			checkGoroutines(t)
			done := make(chan struct{}, 2)
			srv := startServer(t, false, func(c net.Conn) {
				if dir == "out" {
					c.Write(make([]byte, size))
					return
				}
				if n, _ := io.Copy(io.Discard, c); n == size {
					done <- struct{}{}
				}
			})
			cfg := modeConfig(modes[0].cfg, srv.addr())
			cfg.BandwidthMbps = mbps
			b := NewBudget(1 << 16)
			_, a1 := startProxy(t, cfg, nil, nil, WithBudget(b))
			_, a2 := startProxy(t, cfg, nil, nil, WithBudget(b))
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for _, addr := range []string{a1, a2} {
				c := dial(t, addr)
				c.SetDeadline(time.Now().Add(20 * time.Second))
				wg.Add(1)
				go func() {
					defer wg.Done()
					if dir == "in" {
						if _, err := c.Write(make([]byte, size)); err != nil {
							errs <- err
							return
						}
						c.CloseWrite()
						select {
						case <-done:
						case <-time.After(20 * time.Second):
							errs <- fmt.Errorf("upload did not finish")
						}
						return
					}
					if n, err := io.Copy(io.Discard, c); err != nil || n != size {
						errs <- fmt.Errorf("read %d bytes, err %v", n, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			took := time.Since(start)
			rate := float64(2*size) / took.Seconds() * 8 / 1e6
			// Per connection the two would move 2x the cap (more with their
			// bursts); shared, the burst (100 ms) aside, they move the cap.
			if rate >= 2*mbps {
				t.Fatalf("two transfers through one endpoint capped at %d Mbps moved %.2f Mbps together", mbps, rate)
			}
			t.Logf("two %s transfers of %d KiB through one endpoint capped at %d Mbps: %.2f Mbps together (%v)", dir, size>>10, mbps, rate, took)
		})
	}
}

// TestBudgetReleased: connections and splice pipes give their descriptors
// back; a budget too small for pipes still carries bulk (buffer copy).
func TestBudgetReleased(t *testing.T) {
	for _, tc := range []struct {
		name string
		fds  int
	}{{"room for pipes", 1 << 16}, {"no room for pipes", connFDs}} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			srv := startServer(t, false, echo)
			b := NewBudget(tc.fds)
			b.fds = int64(tc.fds) // below NewBudget's minimum: one connection, no pipe
			l, addr := startProxy(t, modeConfig(modes[0].cfg, srv.addr()), nil, nil, WithBudget(b))
			c := dial(t, addr)
			const size = 4 << 20
			go func() { c.Write(make([]byte, size)); c.CloseWrite() }()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := io.Copy(io.Discard, c); err != nil || n != size {
				t.Fatalf("echoed %d of %d bytes, err %v", n, size, err)
			}
			eventually(t, 2*time.Second, "connection closed", func() bool { return l.ActiveConns() == 0 })
			if n := b.InUse(); n != 0 {
				t.Errorf("budget in use after the connection closed: %d descriptors", n)
			}
		})
	}
}

// TestEndpointShare: the fraction of the budget one endpoint may hold.
func TestEndpointShare(t *testing.T) {
	for _, tc := range []struct {
		share      float64
		want, soft int
	}{{0, 32, 192}, {DefaultEndpointShare, 32, 192}, {0.5, 64, 192}, {0.9, 115, 231}, {1, 128, 256}, {2, 32, 192}, {-1, 32, 192}} {
		b := NewBudget(256)
		b.SetEndpointShare(tc.share)
		if got := b.EndpointCap(); got != tc.want || b.soft != int64(tc.soft) {
			t.Errorf("share %v: EndpointCap = %d, soft limit %d; want %d, %d", tc.share, got, b.soft, tc.want, tc.soft)
		}
	}
}
