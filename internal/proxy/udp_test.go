package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"
)

// udpEcho is a UDP backend on 127.0.0.1 answering name + ":" + datagram.
type udpEcho struct {
	pc   *net.UDPConn
	addr netip.AddrPort
	wg   sync.WaitGroup
	mu   sync.Mutex
	got  [][]byte // every datagram received, in order
}

func startUDPEcho(t testing.TB, name string) *udpEcho {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &udpEcho{pc: pc, addr: pc.LocalAddr().(*net.UDPAddr).AddrPort()}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		buf := make([]byte, maxDatagram)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				if strings.Contains(err.Error(), "closed") {
					return
				}
				continue
			}
			e.mu.Lock()
			e.got = append(e.got, bytes.Clone(buf[:n]))
			e.mu.Unlock()
			_, _ = pc.WriteToUDPAddrPort(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	t.Cleanup(e.close)
	return e
}

func (e *udpEcho) close() { e.pc.Close(); e.wg.Wait() }

func (e *udpEcho) received() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][]byte(nil), e.got...)
}

// startUDPListener serves cfg on 127.0.0.1 and returns the listener.
func startUDPListener(t testing.TB, cfg Config, h *Health, m *Metrics) *UDPListener {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	l := NewUDPListener(pc, cfg, DialUDP, h, m, WithBudget(NewBudget(1<<12)))
	done := make(chan error, 1)
	go func() { done <- l.Serve() }()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l
}

// udpClient is a consumer socket connected to the listener.
func udpClient(t testing.TB, to netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ask sends p and returns the reply, or "" after wait.
func ask(t testing.TB, c *net.UDPConn, p string, wait time.Duration) string {
	t.Helper()
	if _, err := c.Write([]byte(p)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

func udpCfg(backends ...netip.AddrPort) Config {
	cfg := Config{EndpointID: "ep-udp", ServiceID: "epsrv-udp", VpcID: "vpc-c", ZoneID: "z1"}
	for _, b := range backends {
		cfg.Backends = append(cfg.Backends, Backend{ZoneID: "z1", Addr: b})
	}
	return cfg
}

// TestUDPEchoLossReorder sends a bounded window of sequenced datagrams
// through the proxy and counts loss and reordering, and the metrics.
func TestUDPEchoLossReorder(t *testing.T) {
	checkGoroutines(t)
	be := startUDPEcho(t, "a")
	m := NewMetrics(prometheus.NewRegistry())
	l := startUDPListener(t, udpCfg(be.addr), nil, m)
	c := udpClient(t, l.Addr())
	const total, window = 2000, 32
	seen := make([]bool, total)
	var got, reordered, last int = 0, 0, -1
	buf := make([]byte, 128)
	sent := 0
	for got < total && sent < total+window {
		for sent < total && sent-got < window {
			p := make([]byte, 64)
			binary.BigEndian.PutUint32(p, uint32(sent))
			if _, err := c.Write(p); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err != nil {
			break // the rest is lost
		}
		if n != 66 || string(buf[:2]) != "a:" {
			t.Fatalf("reply %q", buf[:n])
		}
		seq := int(binary.BigEndian.Uint32(buf[2:]))
		if seq >= total || seen[seq] {
			t.Fatalf("duplicate or bogus sequence %d", seq)
		}
		seen[seq] = true
		if seq < last {
			reordered++
		}
		last = max(last, seq)
		got++
	}
	loss := total - got
	t.Logf("%d datagrams of 64 B, window %d: %d lost, %d reordered", total, window, loss, reordered)
	if loss > total/100 {
		t.Errorf("%d of %d datagrams lost on loopback", loss, total)
	}
	// The counters move just after each send (the echo can be back
	// before its request is counted): give them a moment.
	eventually(t, time.Second, "datagrams counted", func() bool {
		in, out, _ := m.UDPCounts("ep-udp", "z1")
		return in >= int64(total) && out >= int64(got) && m.Read("ep-udp", "z1").BytesIn >= 64*int64(total)
	})
	in, out, drops := m.UDPCounts("ep-udp", "z1")
	if in != int64(total) || out != int64(got) {
		t.Errorf("datagram metrics in=%d out=%d, want %d and %d (drops %v)", in, out, total, got, drops)
	}
	if c := m.Read("ep-udp", "z1"); c.Conns != 1 || c.Active != 1 || c.BytesIn != 64*total {
		t.Errorf("counters %+v, want one flow and %d bytes in", c, 64*total)
	}
}

// TestUDPSecurityGroupPerFlow: the security group is checked on the first
// datagram of each consumer address; Update revokes live flows at once.
func TestUDPSecurityGroupPerFlow(t *testing.T) {
	checkGoroutines(t)
	be := startUDPEcho(t, "a")
	m := NewMetrics(prometheus.NewRegistry())
	cfg := udpCfg(be.addr)
	var okPort atomic.Uint32
	cfg.Allow = func(src netip.AddrPort, dst uint16) bool { return uint32(src.Port()) == okPort.Load() }
	l := startUDPListener(t, cfg, nil, m)
	good, bad := udpClient(t, l.Addr()), udpClient(t, l.Addr())
	okPort.Store(uint32(good.LocalAddr().(*net.UDPAddr).AddrPort().Port()))
	if r := ask(t, good, "hi", 2*time.Second); r != "a:hi" {
		t.Fatalf("allowed flow got %q", r)
	}
	if r := ask(t, bad, "hi", 300*time.Millisecond); r != "" {
		t.Fatalf("denied flow got %q", r)
	}
	if c := m.Read("ep-udp", "z1"); c.SGDrops != 1 || l.Flows() != 1 {
		t.Fatalf("sg drops %d flows %d, want 1 and 1", c.SGDrops, l.Flows())
	}
	deny := cfg
	deny.Allow = func(netip.AddrPort, uint16) bool { return false }
	l.Update(deny)
	if n := l.Flows(); n != 0 {
		t.Fatalf("%d flows after revocation, want 0", n)
	}
	if c := m.Read("ep-udp", "z1"); c.Revoked != 1 || c.Active != 0 {
		t.Fatalf("counters after revocation %+v", c)
	}
	before := len(be.received())
	if r := ask(t, good, "again", 300*time.Millisecond); r != "" {
		t.Fatalf("revoked flow got %q", r)
	}
	if n := len(be.received()); n != before {
		t.Fatalf("backend received %d datagrams after revocation", n-before)
	}
}

// TestUDPFailover: when a backend's port closes, ICMP port unreachable
// closes its flows and marks it down; the consumer's next datagram opens a
// flow to the other backend.
func TestUDPFailover(t *testing.T) {
	checkGoroutines(t)
	a, b := startUDPEcho(t, "a"), startUDPEcho(t, "b")
	h := NewHealth(UDPProbe(DialUDP, nil, nil), time.Hour, time.Second, nil)
	t.Cleanup(h.Close)
	cfg := udpCfg(a.addr)
	cfg.ZoneAffinity = true
	cfg.Backends = append(cfg.Backends, Backend{ZoneID: "z2", Addr: b.addr}) // fallback zone
	h.Track([]netip.AddrPort{a.addr, b.addr})
	m := NewMetrics(prometheus.NewRegistry())
	l := startUDPListener(t, cfg, h, m)
	c := udpClient(t, l.Addr())
	if r := ask(t, c, "1", 2*time.Second); r != "a:1" {
		t.Fatalf("zone-affine flow got %q, want a:1", r)
	}
	a.close()
	deadline := time.Now().Add(5 * time.Second)
	var r string
	for i := 0; r != "b:x" && time.Now().Before(deadline); i++ {
		r = ask(t, c, "x", 200*time.Millisecond)
	}
	if r != "b:x" {
		t.Fatalf("no failover to backend b: last reply %q", r)
	}
	if h.Healthy(a.addr) {
		t.Error("dead backend a still healthy")
	}
	if c := m.Read("ep-udp", "z1"); c.Conns != 2 {
		t.Errorf("%d flows opened, want 2 (a, then b)", c.Conns)
	}
}

// TestUDPIdleTimeout: a flow without datagrams for IdleTimeout is closed;
// the next datagram opens a new one.
func TestUDPIdleTimeout(t *testing.T) {
	checkGoroutines(t)
	be := startUDPEcho(t, "a")
	cfg := udpCfg(be.addr)
	cfg.IdleTimeout = 100 * time.Millisecond
	m := NewMetrics(prometheus.NewRegistry())
	l := startUDPListener(t, cfg, nil, m)
	c := udpClient(t, l.Addr())
	if r := ask(t, c, "1", 2*time.Second); r != "a:1" {
		t.Fatalf("got %q", r)
	}
	if n := l.Flows(); n != 1 {
		t.Fatalf("%d flows, want 1", n)
	}
	eventually(t, 3*time.Second, "idle flow closed", func() bool { return l.Flows() == 0 })
	if r := ask(t, c, "2", 2*time.Second); r != "a:2" {
		t.Fatalf("after idle close got %q", r)
	}
	if c := m.Read("ep-udp", "z1"); c.Conns != 2 {
		t.Errorf("%d flows opened, want 2", c.Conns)
	}
}

// TestUDPFlowLimit: MaxConns bounds the flows; excess consumers are dropped
// and counted.
func TestUDPFlowLimit(t *testing.T) {
	checkGoroutines(t)
	be := startUDPEcho(t, "a")
	cfg := udpCfg(be.addr)
	cfg.MaxConns = 2
	m := NewMetrics(prometheus.NewRegistry())
	l := startUDPListener(t, cfg, nil, m)
	for i := range 3 {
		c := udpClient(t, l.Addr())
		r := ask(t, c, "x", 500*time.Millisecond)
		if (i < 2) != (r == "a:x") {
			t.Fatalf("client %d got %q", i, r)
		}
	}
	if _, _, drops := m.UDPCounts("ep-udp", "z1"); drops["flow_limit"] != 1 {
		t.Fatalf("drops %v, want one flow_limit", drops)
	}
}

// TestUDPProxyProtocol: the first datagram of each flow carries a PROXY v2
// header (DGRAM over IPv4, the TLVs) that go-proxyproto parses; later ones
// are bare.
func TestUDPProxyProtocol(t *testing.T) {
	checkGoroutines(t)
	be := startUDPEcho(t, "a")
	cfg := udpCfg(be.addr)
	cfg.ProxyProtocol, cfg.ProxyTLVs = true, TLVSet{VpcID: true, EndpointID: true}
	l := startUDPListener(t, cfg, nil, nil)
	c := udpClient(t, l.Addr())
	for _, p := range []string{"first", "second"} {
		if r := ask(t, c, p, 2*time.Second); !strings.HasSuffix(r, p) {
			t.Fatalf("reply %q", r)
		}
	}
	got := be.received()
	if len(got) != 2 || string(got[1]) != "second" {
		t.Fatalf("backend got %q", got)
	}
	br := bufio.NewReader(bytes.NewReader(got[0]))
	h, err := proxyproto.Read(br)
	if err != nil {
		t.Fatalf("go-proxyproto: %v", err)
	}
	rest, _ := br.Peek(br.Buffered())
	if string(rest) != "first" {
		t.Fatalf("payload after header %q", rest)
	}
	if h.TransportProtocol != proxyproto.UDPv4 || h.Command != proxyproto.PROXY {
		t.Fatalf("header %v %v, want PROXY UDPv4", h.Command, h.TransportProtocol)
	}
	src := h.SourceAddr.(*net.UDPAddr).AddrPort()
	dst := h.DestinationAddr.(*net.UDPAddr).AddrPort()
	if src != c.LocalAddr().(*net.UDPAddr).AddrPort() || dst != l.Addr() {
		t.Fatalf("header %s -> %s, want %s -> %s", src, dst, c.LocalAddr(), l.Addr())
	}
	tlvs, err := h.TLVs()
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, tl := range tlvs {
		if tl.Type == TLVTypeAlibaba {
			vals = append(vals, string(tl.Value[1:]))
		}
	}
	if strings.Join(vals, ",") != "vpc-c,ep-udp" {
		t.Fatalf("TLVs %q", vals)
	}
}

// TestUDPProbe: ICMP port unreachable, an expected reply and silence.
func TestUDPProbe(t *testing.T) {
	checkGoroutines(t)
	be := startUDPEcho(t, "a")
	silent, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	closed := startUDPEcho(t, "c")
	closed.close()
	silentAddr := silent.LocalAddr().(*net.UDPAddr).AddrPort()
	for _, tc := range []struct {
		name            string
		addr            netip.AddrPort
		payload, expect []byte
		healthy         bool
	}{
		{"closed port, ICMP", closed.addr, nil, nil, false},
		{"echo, no expectation", be.addr, nil, nil, true},
		{"echo, expected reply", be.addr, []byte("ping"), []byte("a:ping"), true},
		{"echo, other reply", be.addr, []byte("ping"), []byte("pong"), false},
		{"silent, no expectation", silentAddr, nil, nil, true},
		{"silent, expected reply", silentAddr, []byte("ping"), []byte("pong"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			c, err := UDPProbe(DialUDP, tc.payload, tc.expect)(ctx, tc.addr)
			if c != nil {
				c.Close()
			}
			if (err == nil) != tc.healthy {
				t.Fatalf("err %v, want healthy=%v", err, tc.healthy)
			}
		})
	}
}

// TestUDPProxyProtocolTurnedOn: flows opened without PROXY protocol, then
// new flows once Update turns it on, get the header in front of their
// own payload intact (the header is built apart from the receive buffer).
func TestUDPProxyProtocolTurnedOn(t *testing.T) {
	checkGoroutines(t)
	be := startUDPEcho(t, "a")
	cfg := udpCfg(be.addr)
	l := startUDPListener(t, cfg, nil, nil)
	if r := ask(t, udpClient(t, l.Addr()), "plain", 2*time.Second); r != "a:plain" {
		t.Fatalf("got %q", r)
	}
	cfg.ProxyProtocol = true
	l.Update(cfg)
	for _, p := range []string{"one", "two"} {
		if r := ask(t, udpClient(t, l.Addr()), p, 2*time.Second); !strings.HasSuffix(r, p) {
			t.Fatalf("got %q", r)
		}
	}
	got := be.received()
	for i, p := range []string{"one", "two"} {
		br := bufio.NewReader(bytes.NewReader(got[1+i]))
		if _, err := proxyproto.Read(br); err != nil {
			t.Fatal(err)
		}
		if rest, _ := br.Peek(br.Buffered()); string(rest) != p {
			t.Fatalf("payload after header %q, want %q", rest, p)
		}
	}
}

// TestUDPBandwidthCap: datagrams beyond the endpoint's cap (each direction) are dropped
// (not delayed) and counted.
func TestUDPBandwidthCap(t *testing.T) {
	checkGoroutines(t)
	be := startUDPEcho(t, "a")
	cfg := udpCfg(be.addr)
	cfg.BandwidthMbps = 1 // 125 kB/s, burst one copy buffer
	m := NewMetrics(prometheus.NewRegistry())
	l := startUDPListener(t, cfg, nil, m)
	c := udpClient(t, l.Addr())
	p := make([]byte, 1400)
	const sent = 200 // 280 kB in about 0.2 s: over the burst and the rate
	for range sent {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // paced, so the kernel drops none
	}
	eventually(t, 3*time.Second, "datagrams accounted", func() bool {
		in, _, drops := m.UDPCounts("ep-udp", "z1")
		return in+drops["bandwidth"] >= sent
	})
	in, _, drops := m.UDPCounts("ep-udp", "z1")
	t.Logf("%d forwarded, %d dropped by the cap (either direction)", in, drops["bandwidth"])
	if drops["bandwidth"] == 0 || in == 0 || in > 100 {
		t.Fatalf("%d forwarded and %d dropped, want some of each, at most ~one burst forwarded", in, drops["bandwidth"])
	}
}
