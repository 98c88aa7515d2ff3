package knat

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
)

// A client in the consumer VPC reaches a backend in the provider VPC
// through ENI:port although both VPCs use the same CIDR and the same host
// address; the backend sees the endpoint's SNAT source.
func TestDNATSNATOverlappingCIDRs(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	if err := w.pair.Apply([]Flow{flow("ep1", 80, be("10.0.0.10:8080", "a", true))}); err != nil {
		t.Fatal(err)
	}
	c, line, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatalf("connect through the pair: %v", err)
	}
	defer c.Close()
	if want := "svc " + snatAddr.String(); line != want {
		t.Fatalf("backend greeting %q, want %q", line, want)
	}
	if err := echo(c, strings.Repeat("x", 100000)); err != nil {
		t.Fatalf("echo: %v", err)
	}
}

// Backends are chosen in the kernel among the healthy ones, same zone
// first; a health change moves new connections and leaves established ones
// where they are.
func TestBackendChoice(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "A")
	listen(t, w.pH, "10.0.0.11:8080", "B")
	listen(t, w.pH, "10.0.0.12:9090", "C")
	seen := func(n int) map[string]int {
		t.Helper()
		m := map[string]int{}
		for i := 0; i < n; i++ {
			c, line, err := hello(t, w.cH, "10.0.0.100:80")
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			c.Close()
			m[strings.Fields(line)[0]]++
		}
		return m
	}
	apply := func(bs ...Backend) {
		t.Helper()
		if err := w.pair.Apply([]Flow{flow("ep1", 80, bs...)}); err != nil {
			t.Fatal(err)
		}
	}
	// Same zone preferred over the other zone.
	apply(be("10.0.0.10:8080", "a", true), be("10.0.0.11:8080", "b", true))
	if m := seen(10); m["A"] != 10 {
		t.Fatalf("zone a preferred: got %v", m)
	}
	held, _, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// A goes unhealthy: new connections go to the other zone, the held one
	// keeps its backend.
	apply(be("10.0.0.10:8080", "a", false), be("10.0.0.11:8080", "b", true))
	if m := seen(10); m["B"] != 10 {
		t.Fatalf("after A unhealthy: got %v", m)
	}
	if err := echo(held, "still here"); err != nil {
		t.Fatalf("established connection disturbed by a health change: %v", err)
	}
	// Several healthy in no preferred zone: spread over all (different ports too).
	apply(be("10.0.0.11:8080", "b", true), be("10.0.0.12:9090", "b", true))
	if m := seen(40); m["B"] == 0 || m["C"] == 0 {
		t.Fatalf("numgen spread over B and C: got %v", m)
	}
	pc, err := nftConn(w.pair.pNS)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := anonSets(pc, w.pair); err != nil || n != 2 {
		t.Fatalf("provider table has %d anonymous sets (%v), want the 2 maps of the current rule", n, err)
	}
	// None healthy: refused at once (reset, not a timeout).
	apply(be("10.0.0.11:8080", "b", false))
	start := time.Now()
	if _, _, err := hello(t, w.cH, "10.0.0.100:80"); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("no healthy backend: want connection refused, got %v after %v", err, time.Since(start))
	}
	if err := echo(held, "still here"); err != nil {
		t.Fatalf("established connection disturbed: %v", err)
	}
	// Replaced rules took their backend maps with them.
	if n, err := anonSets(pc, w.pair); err != nil || n != 0 {
		t.Fatalf("provider table keeps %d anonymous sets (%v), want none", n, err)
	}
}

// Only DNATed endpoint flows cross the link: nothing else in either VPC is
// reachable across it, in either direction.
func TestIsolation(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "0.0.0.0:8080", "svc")
	listen(t, w.pH, "0.0.0.0:22", "provider-other-port")
	listen(t, w.pR, "0.0.0.0:22", "provider-router")
	listen(t, w.cH, "0.0.0.0:22", "consumer-host")
	listen(t, w.cR, "0.0.0.0:22", "consumer-router")
	if err := w.pair.Apply([]Flow{flow("ep1", 80, be("10.0.0.10:8080", "a", true))}); err != nil {
		t.Fatal(err)
	}
	if c, _, err := hello(t, w.cH, "10.0.0.100:80"); err != nil {
		t.Fatalf("the endpoint flow itself: %v", err)
	} else {
		c.Close()
	}
	cases := []struct {
		name, from, to string
	}{
		{"consumer host to provider link address, flow port", w.cH, "100.127.0.2:80"},
		{"consumer host to provider link address, other port", w.cH, "100.127.0.2:22"},
		{"consumer host to a provider-only address", w.cH, "100.127.1.5:8080"},
		{"consumer router to provider link address", w.cR, "100.127.0.2:80"},
		{"consumer router to provider link address, other port", w.cR, "100.127.0.2:22"},
		{"provider host to SNAT source", w.pH, "100.127.1.5:22"},
		{"provider host to consumer link address", w.pH, "100.127.0.1:22"},
		{"provider router to consumer link address", w.pR, "100.127.0.1:22"},
		{"provider router to SNAT source", w.pR, "100.127.1.5:22"},
		{"provider host to consumer ENI via link", w.pH, "100.127.0.1:80"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if c, line, err := hello(t, tc.from, tc.to); err == nil {
				c.Close()
				t.Fatalf("reached %q", line)
			}
		})
	}
	// A port of the ENI with no flow is not forwarded.
	if c, line, err := hello(t, w.cH, "10.0.0.100:22"); err == nil {
		c.Close()
		if line != "consumer-router 10.0.0.10" {
			t.Fatalf("ENI:22 reached %q", line)
		}
	}
}

func anonSets(c *nftables.Conn, p *Pair) (int, error) {
	sets, err := c.GetSets(p.pTab)
	n := 0
	for _, s := range sets {
		if s.Anonymous {
			n++
		}
	}
	return n, err
}
