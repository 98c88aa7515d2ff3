package dns

import (
	"math"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// want describes the expected shape of a response.
type want struct {
	rcode   int
	aa      bool
	answers map[string]bool // expected A addresses (nil: don't care about A)
	nAns    int             // expected answer count (-1: don't care)
	soaNs   bool            // SOA expected in the authority section
}

func check(t *testing.T, r *mdns.Msg, w want, ttl uint32) {
	t.Helper()
	if r.Rcode != w.rcode {
		t.Fatalf("rcode = %s, want %s\n%v", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[w.rcode], r)
	}
	if r.Authoritative != w.aa {
		t.Errorf("AA = %v, want %v", r.Authoritative, w.aa)
	}
	if w.nAns >= 0 && len(r.Answer) != w.nAns {
		t.Errorf("answers = %d, want %d\n%v", len(r.Answer), w.nAns, r)
	}
	if w.answers != nil {
		got := aSet(r.Answer)
		if len(got) != len(w.answers) {
			t.Errorf("A set = %v, want %v", got, w.answers)
		}
		for ip := range w.answers {
			if !got[ip] {
				t.Errorf("missing A %s in %v", ip, got)
			}
		}
		for _, rr := range r.Answer {
			if rr.Header().Ttl != ttl {
				t.Errorf("TTL = %d, want %d", rr.Header().Ttl, ttl)
			}
		}
	}
	soa := soaOf(r.Ns)
	if w.soaNs != (soa != nil) {
		t.Fatalf("SOA in authority = %v, want %v\n%v", soa != nil, w.soaNs, r)
	}
	if soa != nil {
		if soa.Minttl != ttl || soa.Hdr.Ttl != ttl {
			t.Errorf("negative TTL: SOA ttl %d minimum %d, want %d", soa.Hdr.Ttl, soa.Minttl, ttl)
		}
		if soa.Hdr.Name != testZone {
			t.Errorf("SOA owner %q, want %q", soa.Hdr.Name, testZone)
		}
	}
}

var ep1IPs = map[string]bool{"10.0.0.1": true, "10.0.0.2": true}

// Bullet: names are case-insensitive; A -> records with cfg.TTL; AAAA/other
// types on an existing name -> NODATA with SOA; ANY -> the A records.
func TestRecordTypes(t *testing.T) {
	for _, ttl := range []uint32{0, 30} {
		s := newServer(t, Config{TTL: ttl}, testSnapshot(7))
		addr := serveVPC(t, s, vpcA)
		wantTTL := ttl
		if wantTTL == 0 {
			wantTTL = DefaultTTL
		}
		tests := []struct {
			name  string
			qname string
			qtype uint16
			want  want
		}{
			{"A", ep1, mdns.TypeA, want{rcode: mdns.RcodeSuccess, aa: true, answers: ep1IPs, nAns: 2}},
			{"A upper case", strings.ToUpper(ep1), mdns.TypeA, want{rcode: mdns.RcodeSuccess, aa: true, answers: ep1IPs, nAns: 2}},
			{"A mixed case", "Ep-1.CN-Hangzhou.PrivateLink.Internal.", mdns.TypeA, want{rcode: mdns.RcodeSuccess, aa: true, answers: ep1IPs, nAns: 2}},
			{"A deeper name", ep2, mdns.TypeA, want{rcode: mdns.RcodeSuccess, aa: true, answers: map[string]bool{"10.0.1.1": true}, nAns: 1}},
			{"AAAA NODATA", ep1, mdns.TypeAAAA, want{rcode: mdns.RcodeSuccess, aa: true, nAns: 0, soaNs: true}},
			{"TXT NODATA", ep1, mdns.TypeTXT, want{rcode: mdns.RcodeSuccess, aa: true, nAns: 0, soaNs: true}},
			{"MX NODATA upper", strings.ToUpper(ep1), mdns.TypeMX, want{rcode: mdns.RcodeSuccess, aa: true, nAns: 0, soaNs: true}},
			{"ANY", ep1, mdns.TypeANY, want{rcode: mdns.RcodeSuccess, aa: true, answers: ep1IPs, nAns: 2}},
			{"name without addresses", epEmpty, mdns.TypeA, want{rcode: mdns.RcodeSuccess, aa: true, nAns: 0, soaNs: true}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := exchange(t, "udp", addr, tc.qname, tc.qtype)
				check(t, r, tc.want, wantTTL)
				for _, rr := range r.Answer {
					if rr.Header().Name != tc.qname {
						t.Errorf("owner %q, want the query's spelling %q", rr.Header().Name, tc.qname)
					}
				}
				if r.Question[0].Name != tc.qname {
					t.Errorf("question not echoed verbatim: %q", r.Question[0].Name)
				}
			})
		}
	}
}

func TestRoundRobin(t *testing.T) {
	s := newServer(t, Config{}, testSnapshot(1))
	addr := serveVPC(t, s, vpcA)
	first := map[string]bool{}
	for range 4 {
		r := exchange(t, "udp", addr, ep1, mdns.TypeA)
		first[r.Answer[0].(*mdns.A).A.String()] = true
	}
	if len(first) != 2 {
		t.Errorf("first address never rotates: %v", first)
	}
}

// Bullet: in-zone names not in this VPC's view (or a VPC without a view)
// -> NXDOMAIN with SOA; empty non-terminals -> NODATA.
func TestNegativeAnswers(t *testing.T) {
	s := newServer(t, Config{}, testSnapshot(3))
	addrs := map[string]string{
		vpcA:    serveVPC(t, s, vpcA),
		vpcB:    serveVPC(t, s, vpcB),
		vpcNone: serveVPC(t, s, vpcNone),
	}
	nx := want{rcode: mdns.RcodeNameError, aa: true, nAns: 0, soaNs: true}
	nodata := want{rcode: mdns.RcodeSuccess, aa: true, nAns: 0, soaNs: true}
	tests := []struct {
		name  string
		vpc   string
		qname string
		qtype uint16
		want  want
	}{
		{"unknown name", vpcA, "nope." + testZone, mdns.TypeA, nx},
		{"unknown name AAAA", vpcA, "nope." + testZone, mdns.TypeAAAA, nx},
		{"other VPC's name", vpcA, epB, mdns.TypeA, nx},
		{"other VPC's name seen from B", vpcB, ep1, mdns.TypeA, nx},
		{"VPC without a view", vpcNone, ep1, mdns.TypeA, nx},
		{"below an existing name", vpcA, "x." + ep1, mdns.TypeA, nx},
		{"empty non-terminal", vpcA, "svc." + testZone, mdns.TypeA, nodata},
		{"empty non-terminal upper case AAAA", vpcA, "SVC." + strings.ToUpper(testZone), mdns.TypeAAAA, nodata},
		{"ENT of another VPC", vpcB, "svc." + testZone, mdns.TypeA, nx},
		{"ENT in VPC without view", vpcNone, "svc." + testZone, mdns.TypeA, nx},
		{"suffix look-alike is not ENT", vpcA, "vc." + testZone, mdns.TypeA, nx},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check(t, exchange(t, "udp", addrs[tc.vpc], tc.qname, tc.qtype), tc.want, DefaultTTL)
		})
	}
}

// Bullet: zone apex SOA/NS answered authoritatively; ns.<zone> NODATA.
func TestApex(t *testing.T) {
	const rev = 42
	s := newServer(t, Config{TTL: 9}, testSnapshot(rev))
	addrA := serveVPC(t, s, vpcA)
	addrNone := serveVPC(t, s, vpcNone)
	nodata := want{rcode: mdns.RcodeSuccess, aa: true, nAns: 0, soaNs: true}
	tests := []struct {
		name   string
		addr   string
		qname  string
		qtype  uint16
		want   want
		verify func(t *testing.T, r *mdns.Msg)
	}{
		{"SOA", addrA, testZone, mdns.TypeSOA, want{rcode: mdns.RcodeSuccess, aa: true, nAns: 1}, func(t *testing.T, r *mdns.Msg) {
			soa := r.Answer[0].(*mdns.SOA)
			if soa.Ns != "ns."+testZone || soa.Mbox != "hostmaster."+testZone {
				t.Errorf("mname/rname = %q/%q", soa.Ns, soa.Mbox)
			}
			if soa.Serial != rev || soa.Minttl != 9 || soa.Refresh == 0 || soa.Retry == 0 || soa.Expire <= soa.Refresh {
				t.Errorf("bad SOA timers/serial: %v", soa)
			}
		}},
		{"SOA upper case", addrA, strings.ToUpper(testZone), mdns.TypeSOA, want{rcode: mdns.RcodeSuccess, aa: true, nAns: 1}, nil},
		{"NS", addrA, testZone, mdns.TypeNS, want{rcode: mdns.RcodeSuccess, aa: true, nAns: 1}, func(t *testing.T, r *mdns.Msg) {
			if ns := r.Answer[0].(*mdns.NS); ns.Ns != "ns."+testZone {
				t.Errorf("NS = %q", ns.Ns)
			}
		}},
		{"ANY", addrA, testZone, mdns.TypeANY, want{rcode: mdns.RcodeSuccess, aa: true, nAns: 2}, nil},
		{"apex A NODATA", addrA, testZone, mdns.TypeA, nodata, nil},
		{"apex AAAA NODATA", addrA, testZone, mdns.TypeAAAA, nodata, nil},
		{"ns.<zone> A NODATA", addrA, "ns." + testZone, mdns.TypeA, nodata, nil},
		{"SOA from VPC without view", addrNone, testZone, mdns.TypeSOA, want{rcode: mdns.RcodeSuccess, aa: true, nAns: 1}, nil},
		{"NS from VPC without view", addrNone, testZone, mdns.TypeNS, want{rcode: mdns.RcodeSuccess, aa: true, nAns: 1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, "udp", tc.addr, tc.qname, tc.qtype)
			check(t, r, tc.want, 9)
			if tc.verify != nil {
				tc.verify(t, r)
			}
		})
	}
	t.Run("AXFR refused", func(t *testing.T) {
		r := exchange(t, "tcp", addrA, testZone, mdns.TypeAXFR)
		if r.Rcode != mdns.RcodeRefused {
			t.Errorf("rcode = %s", mdns.RcodeToString[r.Rcode])
		}
	})
}

func TestSerialFromRevision(t *testing.T) {
	for _, tc := range []struct {
		rev  int64
		want uint32
	}{
		{-5, 0}, {0, 0}, {1, 1}, {math.MaxUint32, math.MaxUint32},
		{math.MaxUint32 + 1, 0}, {1<<32 + 7, 7}, {math.MaxInt64, math.MaxUint32},
	} {
		if got := serialFromRevision(tc.rev); got != tc.want {
			t.Errorf("serialFromRevision(%d) = %d, want %d", tc.rev, got, tc.want)
		}
	}
}

// Bullet: names outside the zone are forwarded in order (UDP, TCP on TC,
// 2s timeout) or REFUSED without upstreams; in-zone names never forwarded.
func TestForwarding(t *testing.T) {
	t.Run("no upstreams", func(t *testing.T) {
		s := newServer(t, Config{}, testSnapshot(1))
		addr := serveVPC(t, s, vpcA)
		for _, name := range []string{"example.com.", "privatelink.internal.", "internal.", ".", "xcn-hangzhou.privatelink.internal."} {
			r := exchange(t, "udp", addr, name, mdns.TypeA)
			if r.Rcode != mdns.RcodeRefused || r.Authoritative || r.RecursionAvailable {
				t.Errorf("%s: rcode %s aa %v ra %v, want REFUSED", name, mdns.RcodeToString[r.Rcode], r.Authoritative, r.RecursionAvailable)
			}
		}
	})

	up := startUpstream(t, false)
	failing := startUpstream(t, true)
	tests := []struct {
		name      string
		upstreams []string
		netw      string
		qname     string
		opts      []qopt
		rcode     int
		wantA     map[string]bool
		nAns      int
		tc        bool
		hasOPT    bool
		timeout   bool
	}{
		{name: "forwarded A", upstreams: []string{up.addr}, netw: "udp", qname: "example.com.", rcode: mdns.RcodeSuccess, wantA: map[string]bool{"192.0.2.1": true}, nAns: 1},
		{name: "NXDOMAIN relayed", upstreams: []string{up.addr}, netw: "udp", qname: "nx.example.", rcode: mdns.RcodeNameError},
		{name: "EDNS echoed on forwarded", upstreams: []string{up.addr}, netw: "udp", qname: "example.com.", opts: []qopt{withEDNS(1232, false)}, rcode: mdns.RcodeSuccess, nAns: 1, hasOPT: true},
		{name: "dead upstream skipped", upstreams: []string{deadUpstream(t), up.addr}, netw: "udp", qname: "example.com.", rcode: mdns.RcodeSuccess, wantA: map[string]bool{"192.0.2.1": true}, nAns: 1},
		{name: "SERVFAIL upstream skipped", upstreams: []string{failing.addr, up.addr}, netw: "udp", qname: "example.com.", rcode: mdns.RcodeSuccess, nAns: 1},
		{name: "only SERVFAIL upstreams", upstreams: []string{failing.addr}, netw: "udp", qname: "example.com.", rcode: mdns.RcodeServerFailure},
		{name: "all upstreams dead", upstreams: []string{deadUpstream(t)}, netw: "udp", qname: "example.com.", rcode: mdns.RcodeServerFailure},
		{name: "big answer over TCP", upstreams: []string{up.addr}, netw: "tcp", qname: "big.example.", rcode: mdns.RcodeSuccess, nAns: 100},
		{name: "big answer truncated to client UDP size", upstreams: []string{up.addr}, netw: "udp", qname: "big.example.", rcode: mdns.RcodeSuccess, nAns: -1, tc: true},
		{name: "big answer fits client EDNS 4096", upstreams: []string{up.addr}, netw: "udp", qname: "big.example.", opts: []qopt{withEDNS(4096, false)}, rcode: mdns.RcodeSuccess, nAns: 100, hasOPT: true},
		{name: "timeout 2s then SERVFAIL", upstreams: []string{blackholeUpstream(t)}, netw: "udp", qname: "example.com.", rcode: mdns.RcodeServerFailure, timeout: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Config{Upstreams: tc.upstreams}, testSnapshot(1))
			addr := serveVPC(t, s, vpcA)
			start := time.Now()
			r := exchange(t, tc.netw, addr, tc.qname, mdns.TypeA, tc.opts...)
			took := time.Since(start)
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode = %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.rcode])
			}
			if tc.nAns >= 0 && len(r.Answer) != tc.nAns {
				t.Errorf("answers = %d, want %d", len(r.Answer), tc.nAns)
			}
			if tc.wantA != nil {
				for ip := range tc.wantA {
					if !aSet(r.Answer)[ip] {
						t.Errorf("missing %s", ip)
					}
				}
			}
			if r.Truncated != tc.tc {
				t.Errorf("TC = %v, want %v", r.Truncated, tc.tc)
			}
			if (r.IsEdns0() != nil) != tc.hasOPT {
				t.Errorf("OPT present = %v, want %v", r.IsEdns0() != nil, tc.hasOPT)
			}
			if r.Authoritative {
				t.Error("forwarded answer must not claim AA")
			}
			if tc.timeout && (took < forwardTimeout || took > 3*forwardTimeout) {
				t.Errorf("took %v, want about %v", took, forwardTimeout)
			}
		})
	}

	t.Run("UDP truncation upstream falls back to TCP", func(t *testing.T) {
		u := startUpstream(t, false)
		s := newServer(t, Config{Upstreams: []string{u.addr}}, testSnapshot(1))
		addr := serveVPC(t, s, vpcA)
		r := exchange(t, "tcp", addr, "big.example.", mdns.TypeA)
		if len(r.Answer) != 100 || u.udp.Load() != 1 || u.tcp.Load() != 1 {
			t.Errorf("answers %d, upstream udp %d tcp %d; want 100, 1, 1", len(r.Answer), u.udp.Load(), u.tcp.Load())
		}
	})

	t.Run("in-zone names are never forwarded", func(t *testing.T) {
		u := startUpstream(t, false)
		s := newServer(t, Config{Upstreams: []string{u.addr}}, testSnapshot(1))
		addr := serveVPC(t, s, vpcA)
		addrNone := serveVPC(t, s, vpcNone)
		for _, q := range []struct {
			addr, name string
			qtype      uint16
		}{
			{addr, "nope." + testZone, mdns.TypeA},
			{addr, ep1, mdns.TypeAAAA},
			{addr, epB, mdns.TypeA},
			{addrNone, ep1, mdns.TypeA},
			{addr, "NOPE." + strings.ToUpper(testZone), mdns.TypeTXT},
		} {
			r := exchange(t, "udp", q.addr, q.name, q.qtype)
			if !r.Authoritative {
				t.Errorf("%s: not authoritative", q.name)
			}
			if !r.RecursionAvailable {
				t.Errorf("%s: RA should be set when upstreams exist", q.name)
			}
		}
		if n := u.udp.Load() + u.tcp.Load(); n != 0 {
			t.Errorf("upstream saw %d in-zone queries", n)
		}
	})
}

func TestBadUpstreamConfig(t *testing.T) {
	for _, u := range []string{"dns.google:53", "127.0.0.1:0", "127.0.0.1:x", ""} {
		if _, err := New(Config{Zone: testZone, Upstreams: []string{u}}); err == nil {
			t.Errorf("upstream %q accepted", u)
		}
	}
	for _, z := range []string{"", ".", "bad..zone."} {
		if _, err := New(Config{Zone: z}); err == nil {
			t.Errorf("zone %q accepted", z)
		}
	}
	s, err := New(Config{Zone: "Cn-Hangzhou.PrivateLink.Internal", Upstreams: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.zone != testZone || s.fwd.upstreams[0] != "127.0.0.1:53" {
		t.Errorf("normalisation: zone %q upstream %q", s.zone, s.fwd.upstreams[0])
	}
}

// Bullet: before the first SetSnapshot every query gets SERVFAIL.
func TestNotReady(t *testing.T) {
	u := startUpstream(t, false)
	s := newServer(t, Config{Upstreams: []string{u.addr}}, nil)
	addr := serveVPC(t, s, vpcA)
	if s.Ready() {
		t.Fatal("Ready before SetSnapshot")
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"endpoint A", ep1, mdns.TypeA},
		{"apex SOA", testZone, mdns.TypeSOA},
		{"unknown in zone", "nope." + testZone, mdns.TypeA},
		{"outside zone", "example.com.", mdns.TypeA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, "udp", addr, tc.qname, tc.qtype)
			if r.Rcode != mdns.RcodeServerFailure || len(r.Answer) != 0 {
				t.Errorf("rcode %s answers %d, want SERVFAIL", mdns.RcodeToString[r.Rcode], len(r.Answer))
			}
		})
	}
	s.SetSnapshot(nil) // ignored
	if s.Ready() {
		t.Fatal("nil snapshot made the server ready")
	}
	s.SetSnapshot(testSnapshot(1))
	if !s.Ready() {
		t.Fatal("not Ready after SetSnapshot")
	}
	if r := exchange(t, "udp", addr, ep1, mdns.TypeA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 2 {
		t.Errorf("after SetSnapshot: %v", r)
	}
}

// Bullet: EDNS0 size honoured and OPT echoed; TC via msg.Truncate for UDP,
// full answers over TCP.
func TestEDNSAndTruncation(t *testing.T) {
	s := newServer(t, Config{}, testSnapshot(1))
	addr := serveVPC(t, s, vpcA)
	tests := []struct {
		name    string
		netw    string
		qname   string
		opts    []qopt
		rcode   int
		tc      bool
		nAns    int // -1: fewer than 100 (truncated)
		opt     bool
		do      bool
		maxSize int
	}{
		{name: "no EDNS, no OPT", netw: "udp", qname: ep1, nAns: 2, maxSize: 512},
		{name: "EDNS echoed", netw: "udp", qname: ep1, opts: []qopt{withEDNS(1232, false)}, nAns: 2, opt: true},
		{name: "DO bit echoed", netw: "udp", qname: ep1, opts: []qopt{withEDNS(1232, true)}, nAns: 2, opt: true, do: true},
		{name: "EDNS on negative answer", netw: "udp", qname: "nope." + testZone, opts: []qopt{withEDNS(1232, false)}, rcode: mdns.RcodeNameError, opt: true},
		{name: "big, no EDNS: 512 and TC", netw: "udp", qname: epBig, tc: true, nAns: -1, maxSize: 512},
		{name: "big, EDNS 1232: TC", netw: "udp", qname: epBig, opts: []qopt{withEDNS(1232, false)}, tc: true, nAns: -1, opt: true, maxSize: 1232},
		{name: "big, EDNS 100 counts as 512", netw: "udp", qname: epBig, opts: []qopt{withEDNS(100, false)}, tc: true, nAns: -1, opt: true, maxSize: 512},
		{name: "big, EDNS 4096 fits", netw: "udp", qname: epBig, opts: []qopt{withEDNS(4096, false)}, nAns: 100, opt: true},
		{name: "big over TCP: full", netw: "tcp", qname: epBig, nAns: 100},
		{name: "big over TCP with EDNS 512: full", netw: "tcp", qname: epBig, opts: []qopt{withEDNS(512, false)}, nAns: 100, opt: true},
		{name: "EDNS version 1: BADVERS", netw: "udp", qname: ep1, opts: []qopt{func(m *mdns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }}, rcode: mdns.RcodeBadVers, opt: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := exchange(t, tc.netw, addr, tc.qname, mdns.TypeA, tc.opts...)
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.rcode])
			}
			if r.Truncated != tc.tc {
				t.Errorf("TC = %v, want %v", r.Truncated, tc.tc)
			}
			switch {
			case tc.nAns == -1 && len(r.Answer) >= 100:
				t.Errorf("truncated answer has %d records", len(r.Answer))
			case tc.nAns >= 0 && len(r.Answer) != tc.nAns:
				t.Errorf("answers = %d, want %d", len(r.Answer), tc.nAns)
			}
			opt := r.IsEdns0()
			if (opt != nil) != tc.opt {
				t.Fatalf("OPT = %v, want %v", opt != nil, tc.opt)
			}
			if opt != nil {
				if opt.Do() != tc.do {
					t.Errorf("DO = %v", opt.Do())
				}
				if opt.UDPSize() != DefaultMaxUDPSize || opt.Version() != 0 {
					t.Errorf("our OPT: size %d version %d", opt.UDPSize(), opt.Version())
				}
			}
			if tc.maxSize > 0 {
				r.Compress = true
				b, _ := r.Pack()
				if len(b) > tc.maxSize {
					t.Errorf("UDP answer %d bytes > %d", len(b), tc.maxSize)
				}
			}
		})
	}

	t.Run("MaxUDPSize caps client size", func(t *testing.T) {
		s := newServer(t, Config{MaxUDPSize: 1232}, testSnapshot(1))
		addr := serveVPC(t, s, vpcA)
		r := exchange(t, "udp", addr, epBig, mdns.TypeA, withEDNS(4096, false))
		if !r.Truncated || r.IsEdns0().UDPSize() != 1232 {
			t.Errorf("TC %v advertised %d", r.Truncated, r.IsEdns0().UDPSize())
		}
	})
}

// Bullet: malformed queries -> FORMERR / NOTIMP, never a panic.
func TestMalformed(t *testing.T) {
	s := newServer(t, Config{}, testSnapshot(1))
	addr := serveVPC(t, s, vpcA)
	pack := func(f func(m *mdns.Msg)) []byte {
		m := new(mdns.Msg)
		m.SetQuestion(ep1, mdns.TypeA)
		m.Id = 4242
		f(m)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name     string
		pkt      []byte
		rcode    int
		noAnswer bool
	}{
		{"no question", pack(func(m *mdns.Msg) { m.Question = nil }), mdns.RcodeFormatError, false},
		{"two questions", pack(func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) }), mdns.RcodeFormatError, false},
		{"opcode STATUS", pack(func(m *mdns.Msg) { m.Opcode = mdns.OpcodeStatus }), mdns.RcodeNotImplemented, false},
		{"opcode NOTIFY", pack(func(m *mdns.Msg) { m.Opcode = mdns.OpcodeNotify }), mdns.RcodeNotImplemented, false},
		{"opcode UPDATE", pack(func(m *mdns.Msg) { m.Opcode = mdns.OpcodeUpdate }), mdns.RcodeNotImplemented, false},
		{"opcode IQUERY", pack(func(m *mdns.Msg) { m.Opcode = mdns.OpcodeIQuery }), mdns.RcodeNotImplemented, false},
		{"two OPT records", pack(func(m *mdns.Msg) { m.SetEdns0(1232, false); m.SetEdns0(1232, false) }), mdns.RcodeFormatError, false},
		{"class CHAOS", pack(func(m *mdns.Msg) { m.Question[0].Qclass = mdns.ClassCHAOS }), mdns.RcodeRefused, false},
		{"truncated question", pack(func(m *mdns.Msg) {})[:20], mdns.RcodeFormatError, false},
		{"garbage after header", append(pack(func(m *mdns.Msg) {})[:12], 0xff, 0xff, 0xff, 0xff), mdns.RcodeFormatError, false},
		{"a response is ignored", pack(func(m *mdns.Msg) { m.Response = true }), 0, true},
		{"shorter than a header", []byte{1, 2, 3}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wait := 2 * time.Second
			if tc.noAnswer {
				wait = 300 * time.Millisecond
			}
			b := rawExchange(t, addr, tc.pkt, wait)
			if tc.noAnswer {
				if b != nil {
					t.Fatalf("got an answer to a packet that must be ignored")
				}
				return
			}
			if b == nil {
				t.Fatal("no answer")
			}
			r := new(mdns.Msg)
			if err := r.Unpack(b); err != nil {
				t.Fatalf("unpack answer: %v", err)
			}
			if r.Rcode != tc.rcode || !r.Response || len(r.Answer) != 0 {
				t.Errorf("rcode %s qr %v answers %d, want %s", mdns.RcodeToString[r.Rcode], r.Response, len(r.Answer), mdns.RcodeToString[tc.rcode])
			}
			if len(tc.pkt) >= 2 && r.Id != uint16(tc.pkt[0])<<8|uint16(tc.pkt[1]) {
				t.Errorf("id %d", r.Id)
			}
		})
	}
	// The server is still alive.
	if r := exchange(t, "udp", addr, ep1, mdns.TypeA); r.Rcode != mdns.RcodeSuccess {
		t.Errorf("server unhealthy after malformed input: %v", r)
	}
}

// Handler (used without Serve) derives the transport from the writer.
func TestHandlerTransportDetection(t *testing.T) {
	s := newServer(t, Config{}, testSnapshot(1))
	h := s.Handler(vpcA)
	req := new(mdns.Msg)
	req.SetQuestion(epBig, mdns.TypeA)
	for _, tc := range []struct {
		name  string
		local net.Addr
		tc    bool
	}{
		{"udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}, true},
		{"tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}, false},
		{"unknown is treated as udp", nil, true},
		{"unix stream", &net.UnixAddr{Name: "/x", Net: "unix"}, false},
		{"unixgram", &net.UnixAddr{Name: "/x", Net: "unixgram"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &fakeWriter{local: tc.local}
			h.ServeDNS(w, req)
			if len(w.msgs) != 1 {
				t.Fatalf("%d writes", len(w.msgs))
			}
			r := new(mdns.Msg)
			if err := r.Unpack(w.msgs[0]); err != nil {
				t.Fatal(err)
			}
			if r.Truncated != tc.tc {
				t.Errorf("TC = %v, want %v", r.Truncated, tc.tc)
			}
		})
	}
}

func TestCompile(t *testing.T) {
	snap := &Snapshot{Revision: 1, Views: map[string]map[string][]netip.Addr{
		vpcA: {
			"EP-1.cn-hangzhou.privatelink.internal":  {ip1, netip.MustParseAddr("::ffff:10.0.0.2"), netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fe80::1%eth0"), ip1},
			"ep-1.cn-hangzhou.privatelink.internal.": {netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("fd00::1")},
			"outside.example.":                       {ip1},
			"bad..name.":                             {ip1},
			"a.b.c.d." + testZone:                    {ip1},
			testZone:                                 {ip2},
		},
	}}
	c, st := compile(testZone, snap)
	v := c.views[vpcA]
	if got := v.names[ep1]; len(got) != 3 {
		t.Errorf("merged/deduplicated/unmapped addrs = %v", got)
	}
	if got := v.names6[ep1]; len(got) != 1 || got[0] != netip.MustParseAddr("fd00::1") {
		t.Errorf("IPv6 addrs (AAAA) = %v, want [fd00::1] (merged, deduplicated, zoned one dropped)", got)
	}
	if st.skippedNames != 1 || st.skippedAddrs != 1 {
		t.Errorf("stats %+v", st)
	}
	// A name outside the zone (a service name) is published for its exact name only.
	if !c.has(vpcA, "outside.example.") || c.has(vpcB, "outside.example.") || c.has(vpcA, "example.") {
		t.Errorf("out-of-zone names: %v", v.names)
	}
	for _, ent := range []string{"b.c.d." + testZone, "c.d." + testZone, "d." + testZone} {
		if _, ok := v.ents[ent]; !ok {
			t.Errorf("missing ENT %s", ent)
		}
	}
	if _, ok := v.ents[testZone]; ok || len(v.ents) != 3 {
		t.Errorf("ents = %v", v.ents)
	}
	// Zone apex with an A record in the view.
	s := newServer(t, Config{}, snap)
	r := s.respond(vpcA, func() *mdns.Msg { m := new(mdns.Msg); m.SetQuestion(testZone, mdns.TypeA); return m }())
	if len(r.Answer) != 1 {
		t.Errorf("apex A: %v", r)
	}
}

func TestInZone(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{testZone, true},
		{"a." + testZone, true},
		{"a.b." + testZone, true},
		{"x" + testZone, false},
		{"privatelink.internal.", false},
		{`a\.` + testZone, false}, // escaped dot: one label "a.cn-hangzhou"
		{`a\\.` + testZone, true}, // escaped backslash, then a real dot
		{".", false},
	} {
		if got := inZone(tc.name, testZone); got != tc.want {
			t.Errorf("inZone(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Handler used directly with a hand-built message whose name is not fully
// qualified must not produce an unpackable reply.
func TestHandlerNonFQDN(t *testing.T) {
	s := newServer(t, Config{}, testSnapshot(1))
	req := new(mdns.Msg)
	req.Id = 7
	req.Question = []mdns.Question{{Name: "ep-1.cn-hangzhou.privatelink.internal", Qtype: mdns.TypeA, Qclass: mdns.ClassINET}}
	w := &fakeWriter{}
	s.Handler(vpcA).ServeDNS(w, req)
	if len(w.msgs) != 1 {
		t.Fatalf("%d writes", len(w.msgs))
	}
	r := new(mdns.Msg)
	if err := r.Unpack(w.msgs[0]); err != nil || r.Rcode != mdns.RcodeFormatError {
		t.Errorf("reply %v err %v", r, err)
	}
}
