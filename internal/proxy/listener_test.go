package proxy

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// modes are the copy paths every data-path test runs through.
var modes = []struct {
	name string
	cfg  func(*Config)
}{
	{"splice", func(*Config) {}},
	{"userspace-capped", func(c *Config) { c.BandwidthMbps = 100000 }}, // cap far above loopback needs
	{"proxy-protocol", func(c *Config) { c.ProxyProtocol = true }},
}

func modeConfig(mode func(*Config), backends ...netip.AddrPort) Config {
	cfg := Config{EndpointID: "ep-1", ServiceID: "epsrv-1", VpcID: "vpc-1", ZoneID: "a"}
	for _, b := range backends {
		cfg.Backends = append(cfg.Backends, Backend{ZoneID: "a", Addr: b})
	}
	mode(&cfg)
	return cfg
}

func TestEchoAndHalfClose(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			checkGoroutines(t)
			cfg := modeConfig(mode.cfg)
			pp := cfg.ProxyProtocol
			srv := startServer(t, pp, func(c net.Conn) {
				// Read the request to EOF, then answer: a server that needs the
				// consumer's half-close to reply.
				n, err := io.Copy(io.Discard, c)
				if err != nil {
					return
				}
				fmt.Fprintf(c, "got %d bytes\n", n)
			})
			echoSrv := startServer(t, pp, echo)

			t.Run("echo", func(t *testing.T) {
				_, addr := startProxy(t, modeConfig(mode.cfg, echoSrv.addr()), nil, nil)
				c := dial(t, addr)
				for _, msg := range []string{"hello", "x", string(make([]byte, 100000))} {
					if got := roundTrip(t, c, msg); got != msg {
						t.Fatalf("echo: got %d bytes, want %d", len(got), len(msg))
					}
				}
			})
			t.Run("half-close", func(t *testing.T) {
				_, addr := startProxy(t, modeConfig(mode.cfg, srv.addr()), nil, nil)
				c := dial(t, addr)
				if _, err := c.Write(make([]byte, 12345)); err != nil {
					t.Fatal(err)
				}
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				reply, err := io.ReadAll(c)
				if err != nil {
					t.Fatalf("read reply: %v", err)
				}
				if got, want := string(reply), "got 12345 bytes\n"; got != want {
					t.Fatalf("reply %q, want %q", got, want)
				}
			})
		})
	}
}

// TestLargeTransfer moves 128 MiB each way at the same time and compares
// sha256 sums and the byte metrics.
func TestLargeTransfer(t *testing.T) {
	const size = 128 << 20
	for _, mode := range []struct {
		name string
		cfg  func(*Config)
	}{modes[0], modes[2]} { // the spliced paths; the user-space path is covered by echo
		t.Run(mode.name, func(t *testing.T) {
			checkGoroutines(t)
			type result struct {
				recv, sent [32]byte
				n          int64
				err        error
			}
			results := make(chan result, 1)
			cfg := modeConfig(mode.cfg)
			srv := startServer(t, cfg.ProxyProtocol, func(c net.Conn) {
				var r result
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.sent, _ = sendRandom(c, 2, size)
					closeWrite(c)
				}()
				h := sha256.New()
				r.n, r.err = io.Copy(h, c)
				h.Sum(r.recv[:0])
				wg.Wait()
				results <- r
			})
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			l, addr := startProxy(t, modeConfig(mode.cfg, srv.addr()), nil, m)
			c := dial(t, addr)
			c.SetDeadline(time.Now().Add(60 * time.Second))

			var sent [32]byte
			var sendErr error
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				sent, sendErr = sendRandom(c, 1, size)
				c.CloseWrite()
			}()
			h := sha256.New()
			n, err := io.Copy(h, c)
			if err != nil {
				t.Fatalf("client read after %d bytes: %v", n, err)
			}
			wg.Wait()
			if sendErr != nil {
				t.Fatalf("client write: %v", sendErr)
			}
			r := <-results
			if r.err != nil || r.n != size {
				t.Fatalf("backend read %d bytes, err %v", r.n, r.err)
			}
			if n != size {
				t.Fatalf("client read %d bytes, want %d", n, size)
			}
			if r.recv != sent {
				t.Error("consumer->backend sha256 mismatch")
			}
			if got := [32]byte(h.Sum(nil)); got != r.sent {
				t.Error("backend->consumer sha256 mismatch")
			}
			eventually(t, 5*time.Second, "connection teardown", func() bool { return l.ActiveConns() == 0 })
			for dir, want := range map[string]float64{"in": size, "out": size} {
				if got := toFloat64(t, m.bytes.WithLabelValues("ep-1", "a", dir)); got != want {
					t.Errorf("bytes_total{direction=%q} = %v, want %v", dir, got, want)
				}
			}
		})
	}
}

// sendRandom writes n pseudo-random bytes from seed and returns their sha256.
func sendRandom(w io.Writer, seed uint64, n int) (sum [32]byte, err error) {
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for n > 0 {
		b := buf[:min(n, len(buf))]
		rng.Read(b)
		h.Write(b)
		if _, err := w.Write(b); err != nil {
			return sum, err
		}
		n -= len(b)
	}
	h.Sum(sum[:0])
	return sum, nil
}

func TestSecurityGroup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		allow func(src netip.AddrPort, dstPort uint16) bool
		want  bool
	}{
		{"nil allows all", nil, true},
		{"allow loopback", func(src netip.AddrPort, _ uint16) bool { return src.Addr().IsLoopback() }, true},
		{"reject source", func(src netip.AddrPort, _ uint16) bool { return src.Addr() != netip.MustParseAddr("127.0.0.1") }, false},
		{"reject port", func(_ netip.AddrPort, port uint16) bool { return port == 1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			srv := startServer(t, false, echo)
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			cfg := modeConfig(modes[0].cfg, srv.addr())
			var seen struct {
				sync.Mutex
				src  netip.AddrPort
				port uint16
			}
			if tc.allow != nil {
				cfg.Allow = func(src netip.AddrPort, port uint16) bool {
					seen.Lock()
					seen.src, seen.port = src, port
					seen.Unlock()
					return tc.allow(src, port)
				}
			}
			_, addr := startProxy(t, cfg, nil, m)
			werr, err := exchange(addr, "ping")
			if tc.allow != nil {
				seen.Lock()
				if want := netip.MustParseAddrPort(addr); seen.port != want.Port() || seen.src.Addr() != want.Addr() {
					t.Errorf("Allow saw src %v port %d, want src 127.0.0.1 and port %d", seen.src, seen.port, want.Port())
				}
				seen.Unlock()
			}
			drops := toFloat64(t, m.sgDrops.WithLabelValues("ep-1", "a"))
			if tc.want {
				if werr != nil || err != nil {
					t.Fatalf("allowed connection failed: write %v, read %v", werr, err)
				}
				if drops != 0 {
					t.Errorf("sg drops = %v, want 0", drops)
				}
				return
			}
			if err == nil {
				t.Fatal("rejected connection was proxied")
			}
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(werr, syscall.ECONNRESET) {
				t.Errorf("want connection reset, got write err %v, read err %v", werr, err)
			}
			if n := srv.accepted.Load(); n != 0 {
				t.Errorf("backend accepted %d connections", n)
			}
			if drops != 1 {
				t.Errorf("sg drops = %v, want 1", drops)
			}
		})
	}
}

func TestUpdateSwapsAllow(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	cfg := modeConfig(modes[0].cfg, srv.addr())
	l, addr := startProxy(t, cfg, nil, nil)

	deny := cfg
	deny.Allow = func(netip.AddrPort, uint16) bool { return false }
	for _, step := range []struct {
		name string
		cfg  Config
		ok   bool
	}{{"deny", deny, false}, {"allow again", cfg, true}, {"deny again", deny, false}} {
		l.Update(step.cfg)
		_, err := exchange(addr, "x")
		if ok := err == nil; ok != step.ok {
			t.Fatalf("%s: new connection ok=%v (err %v), want %v", step.name, ok, err, step.ok)
		}
	}
}

// TestUpdateClosesRevokedConnections: a config swap re-checks the live
// connections against the new Allow; those it refuses are reset at once
// and counted, the others keep working.
func TestUpdateClosesRevokedConnections(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			checkGoroutines(t)
			cfg := modeConfig(mode.cfg)
			srv := startServer(t, cfg.ProxyProtocol, echo)
			cfg = modeConfig(mode.cfg, srv.addr())
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			l, addr := startProxy(t, cfg, nil, m)
			keep, cut := dial(t, addr), dial(t, addr)
			roundTrip(t, keep, "a")
			roundTrip(t, cut, "b")
			keepPort := keep.LocalAddr().(*net.TCPAddr).AddrPort().Port()
			// The new rules allow only the first connection's source port
			// (on loopback every source has the same address).
			narrowed := cfg
			narrowed.Allow = func(src netip.AddrPort, _ uint16) bool { return src.Port() == keepPort }
			start := time.Now()
			l.Update(narrowed)
			_, err := cut.Read(make([]byte, 1))
			if took := time.Since(start); !errors.Is(err, syscall.ECONNRESET) || took > time.Second {
				t.Fatalf("revoked connection: read err %v after %v, want a reset within 1s", err, took)
			}
			if got := roundTrip(t, keep, "still allowed"); got != "still allowed" {
				t.Fatalf("allowed connection got %q", got)
			}
			if n := toFloat64(t, m.rejected.WithLabelValues("ep-1", "a", "sg_revoked")); n != 1 {
				t.Errorf("rejected{reason=sg_revoked} = %v, want 1", n)
			}
			eventually(t, time.Second, "one active connection", func() bool { return l.ActiveConns() == 1 })
			// Same rules again: nothing more is closed.
			l.Update(narrowed)
			if got := roundTrip(t, keep, "again"); got != "again" {
				t.Fatalf("allowed connection got %q", got)
			}
		})
	}
}

func TestCloseClosesLiveConnections(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			checkGoroutines(t)
			cfg := modeConfig(mode.cfg)
			srv := startServer(t, cfg.ProxyProtocol, echo)
			l, addr := startProxy(t, modeConfig(mode.cfg, srv.addr()), nil, nil)
			var conns []*net.TCPConn
			for i := 0; i < 3; i++ {
				c := dial(t, addr)
				roundTrip(t, c, "hi")
				conns = append(conns, c)
			}
			if n := l.ActiveConns(); n != 3 {
				t.Fatalf("ActiveConns = %d, want 3", n)
			}
			start := time.Now()
			closed := make(chan error, 1)
			go func() { closed <- l.Close() }()
			for _, c := range conns {
				waitClosed(t, c, time.Second)
			}
			select {
			case err := <-closed:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Second):
				t.Fatal("Close did not return within 1s")
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Close took %v", d)
			}
			if n := l.ActiveConns(); n != 0 {
				t.Fatalf("ActiveConns = %d after Close", n)
			}
			if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				t.Fatal("listener still accepting after Close")
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			checkGoroutines(t)
			cfg := modeConfig(mode.cfg)
			srv := startServer(t, cfg.ProxyProtocol, echo)
			sink := startServer(t, cfg.ProxyProtocol, func(c net.Conn) { io.Copy(io.Discard, c) })
			cfg = modeConfig(mode.cfg, srv.addr())
			cfg.IdleTimeout = idle
			_, addr := startProxy(t, cfg, nil, nil)
			sinkCfg := modeConfig(mode.cfg, sink.addr())
			sinkCfg.IdleTimeout = idle
			_, sinkAddr := startProxy(t, sinkCfg, nil, nil)

			t.Run("idle connection is closed", func(t *testing.T) {
				c := dial(t, addr)
				roundTrip(t, c, "hi")
				d := waitClosed(t, c, 10*idle)
				if d < idle*3/4 {
					t.Fatalf("closed after %v, before the idle timeout %v", d, idle)
				}
			})
			t.Run("busy connections stay open", func(t *testing.T) {
				both := dial(t, addr)       // traffic both ways
				oneWay := dial(t, sinkAddr) // consumer->backend only
				for end := time.Now().Add(4 * idle); time.Now().Before(end); time.Sleep(idle / 6) {
					roundTrip(t, both, "ping")
					oneWay.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := oneWay.Write([]byte("data")); err != nil {
						t.Fatalf("one-way connection: %v", err)
					}
				}
				// Both still work, then both go idle and get closed.
				roundTrip(t, both, "still here")
				waitClosed(t, both, 10*idle)
				waitClosed(t, oneWay, 10*idle)
			})
		})
	}
}

func TestBandwidthCap(t *testing.T) {
	const size = 256 << 10
	for _, dir := range []string{"in", "out"} {
		t.Run(dir, func(t *testing.T) {
			checkGoroutines(t)
			done := make(chan time.Duration, 1)
			srv := startServer(t, false, func(c net.Conn) {
				if dir == "out" {
					c.Write(make([]byte, size))
					return
				}
				start := time.Now()
				n, _ := io.Copy(io.Discard, c)
				if n == size {
					done <- time.Since(start)
				}
			})
			cfg := modeConfig(modes[0].cfg, srv.addr())
			cfg.BandwidthMbps = 1
			_, addr := startProxy(t, cfg, nil, nil)
			c := dial(t, addr)
			c.SetDeadline(time.Now().Add(20 * time.Second))
			var took time.Duration
			if dir == "in" {
				if _, err := c.Write(make([]byte, size)); err != nil {
					t.Fatal(err)
				}
				c.CloseWrite()
				select {
				case took = <-done:
				case <-time.After(20 * time.Second):
					t.Fatal("transfer did not finish")
				}
			} else {
				start := time.Now()
				n, err := io.Copy(io.Discard, c)
				if err != nil || n != size {
					t.Fatalf("read %d bytes, err %v", n, err)
				}
				took = time.Since(start)
			}
			// 256 KiB at 125 kB/s is ~2.1s; allow for the initial burst.
			if took < 1500*time.Millisecond {
				t.Fatalf("256 KiB at 1 Mbps took %v, want >= 1.5s", took)
			}
			t.Logf("256 KiB at 1 Mbps took %v", took)
		})
	}
}

func TestDialFailover(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	dead := startServer(t, false, echo)
	deadAddr := dead.addr()
	dead.stop() // connection refused from now on

	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	cfg := modeConfig(modes[0].cfg, deadAddr, srv.addr())
	_, addr := startProxy(t, cfg, nil, m)
	for i := 0; i < 4; i++ {
		c := dial(t, addr)
		if got := roundTrip(t, c, "hi"); got != "hi" {
			t.Fatalf("got %q", got)
		}
		c.Close()
	}
	if got := toFloat64(t, m.dialFailures.WithLabelValues("ep-1", "a")); got < 1 {
		t.Errorf("dial failures = %v, want >= 1", got)
	}

	t.Run("no backend reachable closes the consumer", func(t *testing.T) {
		_, addr := startProxy(t, modeConfig(modes[0].cfg, deadAddr), nil, nil)
		c := dial(t, addr)
		waitClosed(t, c, 5*time.Second)
	})
}

func TestMetrics(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	if NewMetrics(reg) == nil { // registering twice reuses the collectors
		t.Fatal("second NewMetrics returned nil")
	}
	l, addr := startProxy(t, modeConfig(modes[0].cfg, srv.addr()), nil, m)
	c := dial(t, addr)
	roundTrip(t, c, "12345")
	if got := toFloat64(t, m.active.WithLabelValues("ep-1", "a")); got != 1 {
		t.Errorf("active = %v, want 1", got)
	}
	c.CloseWrite()
	io.Copy(io.Discard, c)
	eventually(t, 5*time.Second, "teardown", func() bool { return l.ActiveConns() == 0 })
	for _, tc := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.active.WithLabelValues("ep-1", "a"), 0},
		{m.total.WithLabelValues("ep-1", "a"), 1},
		{m.bytes.WithLabelValues("ep-1", "a", "in"), 5},
		{m.bytes.WithLabelValues("ep-1", "a", "out"), 5},
	} {
		if got := toFloat64(t, tc.c); got != tc.want {
			t.Errorf("%v = %v, want %v", tc.c, got, tc.want)
		}
	}
	if n := seriesCount(t, reg); n != 4 {
		t.Errorf("gathered %d series, want 4 (active, total, bytes in+out; drops, dial failures and rejections appear at their first count)", n)
	}
}

// TestLiveByteAccounting checks that a long-lived connection's bytes show up
// in the metrics before it closes.
func TestLiveByteAccounting(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo)
	m := NewMetrics(nil)
	cfg := modeConfig(modes[0].cfg, srv.addr())
	cfg.IdleTimeout = 200 * time.Millisecond // sweeps every 50ms
	_, addr := startProxy(t, cfg, nil, m)
	c := dial(t, addr)
	msg := string(make([]byte, 1000))
	roundTrip(t, c, msg)
	in, out := m.bytes.WithLabelValues("ep-1", "a", "in"), m.bytes.WithLabelValues("ep-1", "a", "out")
	eventually(t, 2*time.Second, "live byte metrics", func() bool {
		roundTrip(t, c, "x") // keep the connection busy
		return toFloat64(t, in) >= 1000 && toFloat64(t, out) >= 1000
	})
}

// TestGoroutinesPerConnection checks the proxy runs no goroutine per
// proxied connection on the engine and two on the goroutine path.
func TestGoroutinesPerConnection(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, false, echo) // one goroutine per connection
	_, addr := startProxy(t, modeConfig(modes[0].cfg, srv.addr()), nil, nil)
	warm := dial(t, addr)
	roundTrip(t, warm, "x")
	const n = 50
	before := runtime.NumGoroutine()
	for i := 0; i < n; i++ {
		roundTrip(t, dial(t, addr), "x")
	}
	perConn := float64(runtime.NumGoroutine()-before) / n
	want := 3.0 // 2 proxy + 1 test backend handler
	if listenerOpts != nil {
		want = 1.0 // the test backend's handler only
	}
	if perConn > want+0.1 {
		t.Fatalf("%.2f goroutines per connection, want %.0f", perConn, want)
	}
}
