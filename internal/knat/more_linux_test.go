package knat

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
)

// listenSource serves an endless stream of bytes to each connection.
func listenSource(t testing.TB, ns, addr string) {
	var ln net.Listener
	if err := inNamed(t, ns, func() (err error) { ln, err = net.Listen("tcp4", addr); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// readFor reads from addr for warm (not counted: it drains the limiter's
// initial bucket) and returns the bytes read during the next d.
func readFor(t testing.TB, ns, addr string, warm, d time.Duration) int64 {
	c, err := dial(t, ns, addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(warm))
	io.Copy(io.Discard, c)
	c.SetReadDeadline(time.Now().Add(d))
	n, _ := io.Copy(io.Discard, c)
	return n
}

// A bandwidth cap bounds what one endpoint gets; another endpoint of the
// same pair is not capped.
func TestBandwidthCap(t *testing.T) {
	w := newWorld(t, "a")
	listenSource(t, w.pH, "10.0.0.10:8080")
	const rate = 1 << 20 // 1 MiB/s
	capped := flow("capped", 80, be("10.0.0.10:8080", "a", true))
	capped.RateBytes = rate
	free := flow("free", 81, be("10.0.0.10:8080", "a", true))
	free.SNAT = netip.MustParseAddr("100.127.1.6")
	if err := w.pair.Apply([]Flow{capped, free}); err != nil {
		t.Fatal(err)
	}
	got := readFor(t, w.cH, "10.0.0.100:80", 1500*time.Millisecond, time.Second)
	uncapped := readFor(t, w.cH, "10.0.0.100:81", 0, time.Second)
	t.Logf("capped at %d B/s: %d bytes in 1 s after 1.5 s; uncapped: %d bytes in 1 s", rate, got, uncapped)
	// After the initial bucket (1 s at the rate + 64 KiB) is drained: the
	// rate, plus slack for what sat in socket buffers.
	if got > rate*3/2 || got < rate/8 {
		t.Fatalf("capped flow moved %d bytes in 1 s, want about %d", got, rate)
	}
	if uncapped < 8*rate {
		t.Fatalf("uncapped flow moved only %d bytes in 1 s", uncapped)
	}
}

// The cap applies to the consumer → provider direction too.
func TestBandwidthCapUpload(t *testing.T) {
	w := newWorld(t, "a")
	var got atomic.Int64
	var ln net.Listener
	if err := inNamed(t, w.pH, func() (err error) { ln, err = net.Listen("tcp4", "10.0.0.10:8080"); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	const rate = 1 << 20
	f := flow("capped", 80, be("10.0.0.10:8080", "a", true))
	f.RateBytes = rate
	if err := w.pair.Apply([]Flow{f}); err != nil {
		t.Fatal(err)
	}
	c, err := dial(t, w.cH, "10.0.0.100:80", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := time.Now().Add(2500 * time.Millisecond)
	go func() {
		buf := make([]byte, 64<<10)
		c.SetWriteDeadline(stop)
		for time.Now().Before(stop) {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond) // drain the initial bucket
	before := got.Load()
	time.Sleep(time.Second)
	moved := got.Load() - before
	t.Logf("upload capped at %d B/s: %d bytes received in 1 s after 1.5 s", rate, moved)
	if moved > rate*3/2 || moved < rate/8 {
		t.Fatalf("capped upload moved %d bytes in 1 s, want about %d", moved, rate)
	}
}

// Counters per endpoint: bytes and packets each way, new connections,
// live connections.
func TestCounters(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	if err := w.pair.Apply([]Flow{flow("ep1", 80, be("10.0.0.10:8080", "a", true))}); err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("m", 10000)
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, _, err := hello(t, w.cH, "10.0.0.100:80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := echo(c, msg); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	conns[0].Close()
	var st Stats
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		all, err := w.pair.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st = all["ep1"]; st.Active == 2 {
			break
		}
	}
	t.Logf("stats: %+v", st)
	if st.NewConns != 3 || st.Active != 2 || st.Rejects != 0 {
		t.Fatalf("want 3 new, 2 active, 0 rejects: %+v", st)
	}
	if st.BytesOut < 30000 || st.BytesIn < 30000 || st.PacketsOut < 6 || st.PacketsIn < 6 {
		t.Fatalf("bytes/packets not counted: %+v", st)
	}
}

// The conntrack table is read only while it can hold an established
// connection of the pair, and then no more often than its pace: an idle
// pair, or one whose connections have all closed (their TIME_WAIT entries
// stay for minutes), is not dumped, and its active count stays right
// through open, close and reopen.
func TestStatsReadConntrackOnlyWhenOpen(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	if err := w.pair.Apply([]Flow{flow("ep1", 80, be("10.0.0.10:8080", "a", true))}); err != nil {
		t.Fatal(err)
	}
	read := func() (Stats, int64) {
		t.Helper()
		all, err := w.pair.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return all["ep1"], w.pair.ctDumps.Load()
	}
	// waitActive reads until the flow shows want live connections.
	waitActive := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if st, _ := read(); st.Active == want {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("active %d, want %d: %+v", st.Active, want, st)
			}
		}
	}
	if _, d := read(); d != 1 {
		t.Fatalf("first reading made %d conntrack dumps, want 1", d)
	}
	if _, d := read(); d != 1 {
		t.Fatalf("idle pair: %d dumps after the second reading, want still 1", d)
	}
	c, _, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatal(err)
	}
	waitActive(1)
	// While a connection is open the table is read again as soon as the
	// pace allows (ctPace times the last reading's duration); a reading
	// before that repeats the last counts without a dump.
	time.Sleep(time.Until(w.pair.seen.next))
	_, before := read()
	if !w.pair.seen.next.After(time.Now()) {
		t.Fatal("a reading set no pace for the next one")
	}
	w.pair.seen.next = time.Now().Add(time.Hour)
	if st, d := read(); d != before || st.Active != 1 {
		t.Fatalf("a paced reading must repeat the last count without a dump: dumps %d → %d, %+v", before, d, st)
	}
	w.pair.seen.next = time.Time{}
	if st, d := read(); d != before+1 || st.Active != 1 {
		t.Fatalf("an open connection must be read again once the pace allows: dumps %d → %d, %+v", before, d, st)
	}
	c.Close()
	waitActive(0)
	if n := ctCount(t, w.pair, netip.MustParseAddr("10.0.0.100"), 80); n == 0 {
		t.Fatal("the closed connection left no conntrack entry: nothing to skip")
	}
	_, before = read()
	for range 3 {
		if st, d := read(); d != before || st.Active != 0 || st.NewConns != 1 {
			t.Fatalf("closed connections only: dumps %d → %d (want none), %+v", before, d, st)
		}
	}
	c2, _, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	waitActive(1)
	if st, d := read(); d == before || st.NewConns != 2 {
		t.Fatalf("a new connection must be read: dumps %d → %d, %+v", before, d, st)
	}
}

// Close leaves nothing behind: no table, no veth, no conntrack entry.
func TestCloseLeavesNothing(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	if err := w.pair.Apply([]Flow{flow("ep1", 80, be("10.0.0.10:8080", "a", true))}); err != nil {
		t.Fatal(err)
	}
	c, _, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := w.pair.cfg.ID
	if err := w.pair.Close(); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if err := w.pair.Apply(nil); !errors.As(err, &e) || e.Code != "IncorrectPairStatus.Closed" {
		t.Fatalf("apply after close: %v", err)
	}
	for _, n := range []string{w.cR, w.pR} {
		ns, err := netns.GetFromName(n)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nftables.New(nftables.WithNetNSFd(int(ns)))
		if err != nil {
			t.Fatal(err)
		}
		ts, err := nc.ListTables()
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range ts {
			t.Errorf("%s: table %s left", n, tb.Name)
		}
		h := handle(t, n)
		if _, err := h.LinkByName(LinkName(id)); err == nil {
			t.Errorf("%s: veth %s left", n, LinkName(id))
		}
		h.Close()
		ct, err := ctConn(ns)
		if err != nil {
			t.Fatal(err)
		}
		fs, _ := ct.Dump(nil)
		for _, f := range fs {
			if f.TupleOrig.Proto.DestinationPort == 80 {
				t.Errorf("%s: conntrack entry left: %v", n, f)
			}
		}
		ct.Close()
		ns.Close()
	}
}

// Bad input gets a coded error and changes nothing; applying the same set
// twice changes nothing either.
func TestApplyValidationAndIdempotence(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	good := flow("ep1", 80, be("10.0.0.10:8080", "a", true))
	if err := w.pair.Apply([]Flow{good}); err != nil {
		t.Fatal(err)
	}
	rulesOf := func() []uint64 {
		c, _ := nftConn(w.pair.cNS)
		var hs []uint64
		for _, ch := range []string{chainPre, chainPost, chainFwd, flowChain("ep1")} {
			rs, err := c.GetRules(w.pair.cTab, chainRef(w.pair.cTab, ch))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				hs = append(hs, r.Handle)
			}
		}
		return hs
	}
	before := rulesOf()
	mod := func(f func(*Flow)) []Flow { g := good; f(&g); return []Flow{g} }
	cases := []struct {
		name  string
		flows []Flow
		code  string
	}{
		{"bad id", mod(func(f *Flow) { f.ID = "a b" }), "InvalidFlowId.Malformed"},
		{"ENI without port", mod(func(f *Flow) { f.ENI = netip.AddrPortFrom(eni, 0) }), "InvalidENI.Malformed"},
		{"ENI in reserved range", mod(func(f *Flow) { f.ENI = netip.MustParseAddrPort("100.127.9.9:80") }), "InvalidENI.Reserved"},
		{"IPv6 ENI", mod(func(f *Flow) { f.ENI = netip.MustParseAddrPort("[fd00::1]:80") }), "InvalidENI.Malformed"},
		{"SNAT outside prefix", mod(func(f *Flow) { f.SNAT = netip.MustParseAddr("10.0.0.5") }), "InvalidSNAT.OutOfRange"},
		{"backend in reserved range", mod(func(f *Flow) { f.Backends = []Backend{be("100.127.0.2:80", "a", true)} }), "InvalidBackend.Reserved"},
		{"SG priority", mod(func(f *Flow) {
			f.SG = []SGRule{{Source: netip.MustParsePrefix("0.0.0.0/0"), PortLo: 1, PortHi: 2, Priority: 101}}
		}), "InvalidSecurityGroupRule.Priority"},
		{"SG port range", mod(func(f *Flow) {
			f.SG = []SGRule{{Source: netip.MustParsePrefix("0.0.0.0/0"), PortLo: 9, PortHi: 2, Priority: 1}}
		}), "InvalidSecurityGroupRule.PortRange"},
		{"duplicate id", []Flow{good, good}, "InvalidFlowId.Duplicate"},
		{"duplicate ENI", append(mod(func(f *Flow) { f.ID = "other" }), good), "InvalidENI.Duplicate"},
		{"duplicate SNAT and port", append(mod(func(f *Flow) { f.ID = "other"; f.ENI = netip.MustParseAddrPort("10.0.0.101:80") }), good), "InvalidSNAT.Duplicate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := w.pair.Apply(tc.flows)
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("got %v, want code %s", err, tc.code)
			}
		})
	}
	if err := w.pair.Apply([]Flow{good}); err != nil {
		t.Fatal(err)
	}
	if after := rulesOf(); !slicesEqual(before, after) {
		t.Fatalf("rules changed by invalid or identical applies: %v -> %v", before, after)
	}
	c, _, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatalf("flow broken by invalid applies: %v", err)
	}
	c.Close()
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfigValidation(t *testing.T) {
	ok := Config{ID: "abc", ConsumerNS: "/x", ProviderNS: "/y", Link: linkPfx, SNAT: snatPfx}
	mod := func(f func(*Config)) Config { c := ok; f(&c); return c }
	cases := []struct {
		name string
		cfg  Config
		code string
	}{
		{"bad id", mod(func(c *Config) { c.ID = "A_B" }), "InvalidPairId.Malformed"},
		{"same namespace", mod(func(c *Config) { c.ProviderNS = "/x" }), "InvalidNamespace"},
		{"link not /30", mod(func(c *Config) { c.Link = netip.MustParsePrefix("100.127.0.0/29") }), "InvalidLink.Range"},
		{"link outside reserved", mod(func(c *Config) { c.Link = netip.MustParsePrefix("10.0.0.0/30") }), "InvalidLink.Range"},
		{"SNAT overlapping link", mod(func(c *Config) { c.SNAT = netip.MustParsePrefix("100.127.0.0/24") }), "InvalidSNAT.Range"},
		{"SNAT outside reserved", mod(func(c *Config) { c.SNAT = netip.MustParsePrefix("10.1.0.0/24") }), "InvalidSNAT.Range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.cfg)
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("got %v, want code %s", err, tc.code)
			}
		})
	}
}

// No VPC can use the reserved range: VPC CIDR validation accepts only
// private (RFC 1918) blocks, and Reserved is shared address space
// (RFC 6598). This test fails if that validation is ever relaxed.
func TestReservedRangeIsNoVPCRange(t *testing.T) {
	for _, s := range []string{Reserved.String(), "100.127.0.0/24", "100.64.0.0/10"} {
		if _, err := model.ParseCIDR("CidrBlock", s); err == nil {
			t.Errorf("VPC CIDR %s accepted; it overlaps the kernel NAT range %v", s, Reserved)
		}
	}
}

// Sweep removes what a crashed owner left (tables and veth of pairs not
// kept) and nothing else.
func TestSweepLeftovers(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	if err := w.pair.Apply([]Flow{flow("ep1", 80, be("10.0.0.10:8080", "a", true))}); err != nil {
		t.Fatal(err)
	}
	id := w.pair.cfg.ID
	for _, n := range []string{w.cR, w.pR} {
		if got, err := Sweep(nsPath(n), map[string]bool{id: true}); err != nil || len(got) != 0 {
			t.Fatalf("%s: sweep with the pair kept removed %v (%v)", n, got, err)
		}
	}
	if c, _, err := hello(t, w.cH, "10.0.0.100:80"); err != nil {
		t.Fatalf("kept pair broken: %v", err)
	} else {
		c.Close()
	}
	if ctCount(t, w.pair, eni, 80) == 0 {
		t.Fatal("no conntrack entry to sweep")
	}
	// As if the owner had crashed: sweep without keeping it.
	for _, n := range []string{w.cR, w.pR} {
		got, err := Sweep(nsPath(n), nil)
		if err != nil || len(got) != 1 || got[0] != id {
			t.Fatalf("%s: sweep removed %v (%v), want [%s]", n, got, err, id)
		}
		h := handle(t, n)
		if _, err := h.LinkByName("vh"); err != nil {
			t.Errorf("%s: sweep removed the VPC's own link: %v", n, err)
		}
		if _, err := h.LinkByName(LinkName(id)); err == nil {
			t.Errorf("%s: veth left", n)
		}
		h.Close()
	}
	if n := ctCount(t, w.pair, eni, 80); n != 0 {
		t.Fatalf("%d conntrack entries left after the sweep", n)
	}
	if c, _, err := hello(t, w.cH, "10.0.0.100:80"); err == nil {
		c.Close()
		t.Fatal("flow still forwarded after the sweep")
	}
}
