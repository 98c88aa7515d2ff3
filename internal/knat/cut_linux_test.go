package knat

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// cutWithin writes to c until the connection fails, for at most a second,
// and reports whether it got a reset.
func resetWithin(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	c.SetDeadline(deadline)
	buf := make([]byte, 64)
	for time.Now().Before(deadline) {
		if _, err := io.WriteString(c, "ping"); err != nil {
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("write failed with %v, want a reset", err)
			}
			t.Logf("cut after %v (write: %v)", time.Since(start), err)
			return
		}
		if _, err := c.Read(buf); err != nil {
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("read failed with %v, want a reset", err)
			}
			t.Logf("cut after %v (read: %v)", time.Since(start), err)
			return
		}
	}
	t.Fatalf("connection still alive %v after the cut", d)
}

// Removing a flow cuts its live connections at once; new ones are refused.
// Other flows are not touched.
func TestRevokeCutsLiveConnections(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	keep := flow("ep2", 81, be("10.0.0.10:8080", "a", true))
	keep.SNAT = netip.MustParseAddr("100.127.1.6")
	// ep3's backend writes a byte every 20 ms: it must learn of the cut too.
	ticked := listenTicker(t, w.pH, "10.0.0.10:9000")
	tick := flow("ep3", 83, be("10.0.0.10:9000", "a", true))
	if err := w.pair.Apply([]Flow{flow("ep1", 80, be("10.0.0.10:8080", "a", true)), keep, tick}); err != nil {
		t.Fatal(err)
	}
	tc, err := dial(t, w.cH, "10.0.0.100:83", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.ReadFull(tc, make([]byte, 3)); err != nil {
		t.Fatalf("ticks: %v", err)
	}
	c, _, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	other, line, err := hello(t, w.cH, "10.0.0.100:81")
	if err != nil || line != "svc 100.127.1.6" {
		t.Fatalf("second endpoint: %q %v", line, err)
	}
	defer other.Close()
	if err := echo(c, "before"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := w.pair.Apply([]Flow{keep}); err != nil {
		t.Fatal(err)
	}
	t.Logf("apply took %v", time.Since(start))
	resetWithin(t, c, time.Second)
	select {
	case err := <-ticked:
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("backend's write failed with %v, want a reset", err)
		}
	case <-time.After(time.Second):
		t.Fatal("backend still writing 1 s after the revocation")
	}
	if _, _, err := hello(t, w.cH, "10.0.0.100:80"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("new connection after revocation: %v, want refused", err)
	}
	if err := echo(other, "other endpoint untouched"); err != nil {
		t.Fatalf("other flow disturbed: %v", err)
	}
	if n := ctCount(t, w.pair, eni, 80); n != 0 {
		t.Fatalf("%d conntrack entries left for the removed flow", n)
	}
}

// Security groups are applied in the consumer VPC: a denied source cannot
// connect; changing the rules cuts live connections they no longer allow
// and keeps the ones they still allow.
func TestSecurityGroupCut(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	// A second client address in the consumer host.
	h := handle(t, w.cH)
	l, _ := h.LinkByName("eth0")
	a, _ := netlinkParseAddr("10.0.0.20/24")
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatal(err)
	}
	h.Close()
	f := flow("ep1", 80, be("10.0.0.10:8080", "a", true))
	allowBoth := []SGRule{
		{Source: netip.MustParsePrefix("10.0.0.10/32"), PortLo: 80, PortHi: 80, Accept: true, Priority: 1},
		{Source: netip.MustParsePrefix("10.0.0.20/32"), PortLo: 1, PortHi: 65535, Accept: true, Priority: 2},
	}
	f.SG = allowBoth
	if err := w.pair.Apply([]Flow{f}); err != nil {
		t.Fatal(err)
	}
	c10, line, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil || !strings.HasPrefix(line, "svc") {
		t.Fatalf("allowed source 10: %q %v", line, err)
	}
	defer c10.Close()
	c20, _, err := helloFrom(t, w.cH, "10.0.0.20", "10.0.0.100:80")
	if err != nil {
		t.Fatalf("allowed source 20: %v", err)
	}
	defer c20.Close()
	// Drop .20 at a higher priority than its accept; .10 still allowed.
	f.SG = append([]SGRule{{Source: netip.MustParsePrefix("10.0.0.16/28"), PortLo: 80, PortHi: 80, Accept: false, Priority: 1}}, allowBoth...)
	if err := w.pair.Apply([]Flow{f}); err != nil {
		t.Fatal(err)
	}
	resetWithin(t, c20, time.Second)
	if err := echo(c10, "still allowed"); err != nil {
		t.Fatalf("allowed connection cut: %v", err)
	}
	if c, _, err := helloFrom(t, w.cH, "10.0.0.20", "10.0.0.100:80"); err == nil {
		c.Close()
		t.Fatal("denied source connected")
	}
	st, err := w.pair.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st["ep1"].Rejects == 0 {
		t.Fatalf("rejects not counted: %+v", st["ep1"])
	}
	// Rule removal: only the (now removed) accept for .10 allowed it.
	f.SG = allowBoth[1:]
	if err := w.pair.Apply([]Flow{f}); err != nil {
		t.Fatal(err)
	}
	resetWithin(t, c10, time.Second)
}

// listenTicker accepts one connection on addr in ns and writes a byte to it
// every 20 ms until a write fails; the error is sent on the channel.
func listenTicker(t *testing.T, ns, addr string) <-chan error {
	var ln net.Listener
	if err := inNamed(t, ns, func() (err error) { ln, err = net.Listen("tcp4", addr); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- err
			return
		}
		defer c.Close()
		for i := 0; i < 500; i++ { // at most 10 s
			if _, err := c.Write([]byte{'t'}); err != nil {
				ch <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		ch <- nil
	}()
	return ch
}

// TestRestartAdoptsFlows: a new Pair on the same ID and link (the old one
// gone without Close, as after a crash or a restart of its owner) adopts
// the flows both tables hold: they forward at once, applying the same
// flows (in another order) reprograms none of them (same rule handles),
// the established connection keeps echoing and is counted on its own
// flow; a flow whose backends changed meanwhile is reprogrammed, one no
// longer wanted is removed (its connection reset). A pair opened with
// another zone (another marker) does not adopt: its tables are rebuilt
// empty and nothing forwards until the flows are applied.
func TestRestartAdoptsFlows(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	listen(t, w.pH, "10.0.0.11:8080", "svc2")
	flows := []Flow{flow("ep1", 80, be("10.0.0.10:8080", "a", true))}
	for i := 0; i < 20; i++ { // more flows, so that marks and maps are not trivially equal
		f := flow(fmt.Sprintf("x%02d", i), uint16(2000+i), be("10.0.0.10:8080", "a", true))
		flows = append(flows, f)
	}
	if err := w.pair.Apply(flows); err != nil {
		t.Fatal(err)
	}
	c, _, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cx, _, err := hello(t, w.cH, "10.0.0.100:2019")
	if err != nil {
		t.Fatal(err)
	}
	defer cx.Close()
	ids := []string{"ep1"}
	for i := 0; i < 20; i++ {
		ids = append(ids, fmt.Sprintf("x%02d", i))
	}
	before := handles2(t, w.pair, ids...)
	reopen := func(cfg Config) *Pair {
		t.Helper()
		old := w.pair
		p2, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// The old incarnation is gone without Close.
		old.cNS.Close()
		old.cNS = netns.None()
		old.pNS.Close()
		old.pNS = netns.None()
		w.pair = p2
		t.Cleanup(func() { p2.Close() })
		return p2
	}
	p2 := reopen(w.pair.cfg)
	if n := p2.Adopted(); n != len(flows) {
		t.Fatalf("adopted %d flows, want %d", n, len(flows))
	}
	c2, _, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatalf("an adopted flow does not forward before the owner applies: %v", err)
	}
	c2.Close()
	// Same flows, given in another order: nothing reprogrammed.
	rev := slices.Clone(flows)
	slices.Reverse(rev)
	if err := p2.Apply(rev); err != nil {
		t.Fatal(err)
	}
	if after := handles2(t, p2, ids...); !slices.Equal(before, after) {
		t.Fatalf("applying the adopted flows reprogrammed them: %v -> %v", before, after)
	}
	msg := strings.Repeat("s", 5000)
	if err := echo(c, msg); err != nil {
		t.Fatalf("established connection lost across the restart: %v", err)
	}
	// Its packets are still accounted to its own flow (same ct mark).
	st, err := p2.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st["ep1"].BytesOut < uint64(len(msg)) || st["ep1"].BytesIn < uint64(len(msg)) {
		t.Fatalf("surviving connection not counted on its flow: %+v", st["ep1"])
	}
	// Another incarnation; meanwhile ep1's backend moved and x19 went.
	p3 := reopen(p2.cfg)
	moved := flow("ep1", 80, be("10.0.0.11:8080", "a", true))
	if err := p3.Apply(append([]Flow{moved}, flows[1:20]...)); err != nil {
		t.Fatal(err)
	}
	resetWithin(t, cx, time.Second)
	c7, got, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil || !strings.HasPrefix(got, "svc2 ") {
		t.Fatalf("changed adopted flow: %q %v, want svc2", got, err)
	}
	c7.Close()
	if c4, _, err := hello(t, w.cH, "10.0.0.100:2019"); err == nil {
		c4.Close()
		t.Fatal("a flow no longer wanted still forwards after adoption")
	}
	// Another zone: another marker, no adoption.
	cfg := p3.cfg
	cfg.Zone = "b"
	p4 := reopen(cfg)
	if n := p4.Adopted(); n != 0 {
		t.Fatalf("adopted %d flows of another zone's tables", n)
	}
	if c5, _, err := hello(t, w.cH, "10.0.0.100:2000"); err == nil {
		c5.Close()
		t.Fatal("forwarded before the flows were applied to rebuilt tables")
	}
	if err := p4.Apply(flows); err != nil {
		t.Fatal(err)
	}
	c6, _, err := hello(t, w.cH, "10.0.0.100:2000")
	if err != nil {
		t.Fatalf("new connection after the rebuild: %v", err)
	}
	c6.Close()
}
