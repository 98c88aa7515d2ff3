package dns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

const (
	testZone = "cn-hangzhou.privatelink.internal."
	ep1      = "ep-1." + testZone
	ep2      = "ep-2.svc." + testZone // makes svc.<zone> an empty non-terminal
	epBig    = "big." + testZone      // 100 A records: does not fit 512/1232 bytes
	epEmpty  = "empty." + testZone    // exists, no addresses
	epB      = "ep-b." + testZone     // only in vpc-b
	vpcA     = "vpc-a"
	vpcB     = "vpc-b"
	vpcNone  = "vpc-none" // no view at all
)

var (
	ip1 = netip.MustParseAddr("10.0.0.1")
	ip2 = netip.MustParseAddr("10.0.0.2")
)

func bigAddrs() []netip.Addr {
	var a []netip.Addr
	for i := 1; i <= 100; i++ {
		a = append(a, netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i % 256)}))
	}
	return a
}

func testSnapshot(rev int64) *Snapshot {
	return &Snapshot{
		Revision: rev,
		Views: map[string]map[string][]netip.Addr{
			vpcA: {
				ep1:     {ip1, ip2},
				ep2:     {netip.MustParseAddr("10.0.1.1")},
				epBig:   bigAddrs(),
				epEmpty: {},
			},
			vpcB: {
				epB: {netip.MustParseAddr("10.9.0.1")},
			},
		},
	}
}

// newServer returns a Server closed at test end; snap may be nil (not ready).
func newServer(t testing.TB, cfg Config, snap *Snapshot) *Server {
	t.Helper()
	if cfg.Zone == "" {
		cfg.Zone = testZone
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if snap != nil {
		s.SetSnapshot(snap)
	}
	return s
}

// listenPair binds UDP and TCP on the same ephemeral 127.0.0.1 port (dig and
// other real clients fall back from UDP to TCP on the same port).
func listenPair(t testing.TB) (net.PacketConn, net.Listener, string) {
	t.Helper()
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			pc.Close()
			lastErr = err
			continue
		}
		return pc, ln, addr
	}
	t.Fatalf("could not bind udp+tcp on one port: %v", lastErr)
	return nil, nil, ""
}

// serveVPC serves vpcID on a fresh UDP+TCP port and returns "127.0.0.1:port".
func serveVPC(t testing.TB, s *Server, vpcID string) string {
	t.Helper()
	pc, ln, addr := listenPair(t)
	if err := s.Serve(vpcID, pc, ln); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	return addr
}

type qopt func(*mdns.Msg)

func withEDNS(size uint16, do bool) qopt {
	return func(m *mdns.Msg) { m.SetEdns0(size, do) }
}

// exchange sends one query with miekg's client and fails the test on
// transport errors.
func exchange(t testing.TB, netw, addr, name string, qtype uint16, opts ...qopt) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	for _, o := range opts {
		o(m)
	}
	c := &mdns.Client{Net: netw, Timeout: 5 * time.Second}
	if opt := m.IsEdns0(); opt == nil {
		c.UDPSize = mdns.MinMsgSize
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s via %s: %v", netw, name, mdns.TypeToString[qtype], addr, err)
	}
	if r.Id != m.Id {
		t.Fatalf("id mismatch: %d != %d", r.Id, m.Id)
	}
	return r
}

// rawExchange sends raw bytes over UDP and returns the raw reply, or nil
// after wait when nothing came back.
func rawExchange(t testing.TB, addr string, pkt []byte, wait time.Duration) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		t.Fatal(err)
	}
	return buf[:n]
}

func aSet(rrs []mdns.RR) map[string]bool {
	out := map[string]bool{}
	for _, rr := range rrs {
		if a, ok := rr.(*mdns.A); ok {
			out[a.A.String()] = true
		}
	}
	return out
}

func soaOf(rrs []mdns.RR) *mdns.SOA {
	for _, rr := range rrs {
		if s, ok := rr.(*mdns.SOA); ok {
			return s
		}
	}
	return nil
}

// fakeUpstream is a miekg DNS server on 127.0.0.1 that stands in for a real
// resolver.
type fakeUpstream struct {
	addr     string
	udp, tcp atomic.Int64 // queries seen per transport
	servfail bool         // answer every query with SERVFAIL
}

func startUpstream(t testing.TB, servfail bool) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{servfail: servfail}
	pc, ln, addr := listenPair(t)
	u.addr = addr
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

func (u *fakeUpstream) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	_, isTCP := w.RemoteAddr().(*net.TCPAddr)
	if isTCP {
		u.tcp.Add(1)
	} else {
		u.udp.Add(1)
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	q := r.Question[0]
	switch {
	case u.servfail:
		m.Rcode = mdns.RcodeServerFailure
	case q.Name == "example.com." && q.Qtype == mdns.TypeA:
		m.Answer = append(m.Answer, mustRR("example.com. 300 IN A 192.0.2.1"))
	case q.Name == "big.example." && q.Qtype == mdns.TypeA:
		for i := 1; i <= 100; i++ {
			m.Answer = append(m.Answer, mustRR(fmt.Sprintf("big.example. 300 IN A 198.51.100.%d", i)))
		}
	case q.Name == "nx.example.":
		m.Rcode = mdns.RcodeNameError
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(1232, false)
	}
	if !isTCP {
		size := mdns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

func mustRR(s string) mdns.RR {
	rr, err := mdns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

// deadUpstream returns a 127.0.0.1 address where nothing listens (UDP
// queries there fail fast with "connection refused").
func deadUpstream(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// blackholeUpstream returns a 127.0.0.1 UDP address that receives queries
// but never answers.
func blackholeUpstream(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// fakeWriter is an mdns.ResponseWriter that records what is written.
type fakeWriter struct {
	local, remote net.Addr
	msgs          [][]byte
}

func (w *fakeWriter) LocalAddr() net.Addr  { return w.local }
func (w *fakeWriter) RemoteAddr() net.Addr { return w.remote }
func (w *fakeWriter) WriteMsg(m *mdns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	w.msgs = append(w.msgs, b)
	return nil
}
func (w *fakeWriter) Write(b []byte) (int, error) {
	w.msgs = append(w.msgs, append([]byte(nil), b...))
	return len(b), nil
}
func (w *fakeWriter) Close() error        { return nil }
func (w *fakeWriter) TsigStatus() error   { return nil }
func (w *fakeWriter) TsigTimersOnly(bool) {}
func (w *fakeWriter) Hijack()             {}
