package knat

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// manyFlows returns n flows with distinct ENIs and (SNAT, port) pairs, all
// to one backend.
func manyFlows(n int, backend string) []Flow {
	fs := make([]Flow, 0, n)
	for i := 0; i < n; i++ {
		f := flow(fmt.Sprintf("m%d", i), uint16(1000+i/250), be(backend, "a", true))
		f.ENI = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}), f.ENI.Port())
		f.SNAT = netip.AddrFrom4([4]byte{100, 127, 1, byte(i%250 + 1)})
		fs = append(fs, f)
	}
	return fs
}

// With many flows applied, adding one more is a small batch and it serves
// at once (through Apply and through Change); an owner restart adopts the
// flows; changing the ENI port of a flow moves it and cuts its old
// connections.
func TestManyFlowsAndENIChange(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("KNAT_MANY")); err == nil && v > 0 && v <= 60000 {
		n = v // e.g. KNAT_MANY=10000 for the scale figure
	}
	fs := manyFlows(n, "10.0.0.10:8080")
	start := time.Now()
	if err := w.pair.Apply(fs); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d flows applied (batches of %d flows) in %v", n, batchFlows, time.Since(start))
	// An owner restart: a new Pair on the same ID, the same flows applied.
	start = time.Now()
	p2, err := Open(w.pair.cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.pair.cNS.Close()
	w.pair.cNS = netns.None()
	w.pair.pNS.Close()
	w.pair.pNS = netns.None()
	w.pair = p2
	t.Cleanup(func() { p2.Close() })
	if err := p2.Apply(fs); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart with %d flows: open and apply in %v", n, time.Since(start))
	one := flow("ep1", 80, be("10.0.0.10:8080", "a", true))
	start = time.Now()
	if err := p2.Apply(append(fs, one)); err != nil {
		t.Fatal(err)
	}
	applied := time.Since(start)
	c, _, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatalf("new flow among %d: %v", n, err)
	}
	defer c.Close()
	t.Logf("one flow added to %d: applied in %v, first reply after %v", n, applied, time.Since(start))
	// The same through Change: the work of one flow, not of the set.
	start = time.Now()
	if err := p2.Change([]Flow{flow("ep2", 81, be("10.0.0.10:8080", "a", true))}, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("one flow added to %d by Change in %v", n+1, time.Since(start))
	c3, _, err := hello(t, w.cH, "10.0.0.100:81")
	if err != nil {
		t.Fatalf("flow added by Change among %d: %v", n+1, err)
	}
	c3.Close()
	// Move the flow to port 82.
	moved := one
	moved.ENI = netip.AddrPortFrom(eni, 82)
	if err := p2.Apply(append(fs, moved)); err != nil {
		t.Fatal(err)
	}
	resetWithin(t, c, time.Second)
	if _, _, err := hello(t, w.cH, "10.0.0.100:80"); err == nil {
		t.Fatal("old port still forwarded")
	}
	c2, _, err := hello(t, w.cH, "10.0.0.100:82")
	if err != nil {
		t.Fatalf("new port: %v", err)
	}
	c2.Close()
	start = time.Now()
	if err := p2.Apply(nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d flows removed in %v", n+1, time.Since(start))
	if st, err := p2.Stats(); err != nil || len(st) != 0 {
		t.Fatalf("stats after removing all: %v %v", st, err)
	}
}
