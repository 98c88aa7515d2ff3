package knat

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// Change sets and removes flows without touching the others: a live
// connection of an untouched flow keeps echoing, a removed flow's
// connection is reset and its port refused, a set flow serves at once;
// bad changes get their code and change nothing; the result is what
// Apply of the same set gives.
func TestChange(t *testing.T) {
	w := newWorld(t, "a")
	listen(t, w.pH, "10.0.0.10:8080", "svc")
	b := be("10.0.0.10:8080", "a", true)
	fa, fb, fc := flow("a", 80, b), flow("b", 81, b), flow("c", 82, b)
	if err := w.pair.Apply([]Flow{fa, fb, fc}); err != nil {
		t.Fatal(err)
	}
	ca, _, err := hello(t, w.cH, "10.0.0.100:80")
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, _, err := hello(t, w.cH, "10.0.0.100:81")
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	handles := func() []uint64 { return handles2(t, w.pair, "a", "c") }
	ids := func() string {
		var out []string
		for _, f := range w.pair.Flows() {
			out = append(out, f.ID+"@"+f.ENI.String())
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	before, beforeIDs := handles(), ids()

	mod := func(f Flow, m func(*Flow)) Flow { m(&f); return f }
	other := func(id string, port uint16) Flow { return flow(id, port, b) }
	for _, tc := range []struct {
		name   string
		set    []Flow
		remove []string
		code   string
	}{
		{"invalid flow", []Flow{mod(other("d", 83), func(f *Flow) { f.ID = "d d" })}, nil, "InvalidFlowId.Malformed"},
		{"id given twice", []Flow{other("d", 83), other("d", 84)}, nil, "InvalidFlowId.Duplicate"},
		{"id set and removed", []Flow{other("d", 83)}, []string{"d"}, "InvalidFlowId.Duplicate"},
		{"ENI of a flow that stays", []Flow{mod(other("d", 80), func(f *Flow) { f.SNAT = f.SNAT.Next() })}, nil, "InvalidENI.Duplicate"},
		{"SNAT and port of a flow that stays", []Flow{mod(other("d", 82), func(f *Flow) { f.ENI = netip.MustParseAddrPort("10.0.0.101:82") })}, nil, "InvalidSNAT.Duplicate"},
		{"two set flows share an ENI", []Flow{other("d", 83), mod(other("e", 83), func(f *Flow) { f.SNAT = f.SNAT.Next() })}, nil, "InvalidENI.Duplicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := w.pair.Change(tc.set, tc.remove)
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("got %v, want code %s", err, tc.code)
			}
			if got := ids(); got != beforeIDs {
				t.Fatalf("flows %s after a refused change, want %s", got, beforeIDs)
			}
		})
	}

	// Remove b, add d: a and c are not touched (same rule handles, a's
	// connection still echoes), b's connection is reset.
	if err := w.pair.Change([]Flow{other("d", 83)}, []string{"b", "unknown"}); err != nil {
		t.Fatal(err)
	}
	resetWithin(t, cb, time.Second)
	if err := echo(ca, "still there"); err != nil {
		t.Fatalf("untouched flow's connection: %v", err)
	}
	if after := handles(); !slices.Equal(before, after) {
		t.Fatalf("untouched flows' rules changed: %v -> %v", before, after)
	}
	if c, _, err := hello(t, w.cH, "10.0.0.100:81"); err == nil {
		c.Close()
		t.Fatal("removed flow still forwarded")
	}
	cd, _, err := hello(t, w.cH, "10.0.0.100:83")
	if err != nil {
		t.Fatalf("set flow: %v", err)
	}
	cd.Close()
	// A flow takes over the ENI of a flow removed in the same change, and
	// setting a flow again as it is changes nothing.
	if err := w.pair.Change([]Flow{other("e", 82), fa}, []string{"c"}); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(), "a@10.0.0.100:80 d@10.0.0.100:83 e@10.0.0.100:82"; got != want {
		t.Fatalf("flows %s, want %s", got, want)
	}
	if err := echo(ca, "unchanged"); err != nil {
		t.Fatalf("flow set again as it was: %v", err)
	}
	ce, _, err := hello(t, w.cH, "10.0.0.100:82")
	if err != nil {
		t.Fatalf("flow on a taken-over ENI: %v", err)
	}
	ce.Close()
	// Apply of the same set is a no-op after changes: same handles.
	hs := handles2(t, w.pair, "a", "d", "e")
	if err := w.pair.Apply([]Flow{fa, other("d", 83), other("e", 82)}); err != nil {
		t.Fatal(err)
	}
	if got := handles2(t, w.pair, "a", "d", "e"); !slices.Equal(hs, got) {
		t.Fatalf("Apply of the set Change made re-programmed it: %v -> %v", hs, got)
	}
}

// handles2 lists the rule handles of the flows' consumer chains.
func handles2(t *testing.T, p *Pair, ids ...string) []uint64 {
	c, _ := nftConn(p.cNS)
	var hs []uint64
	for _, id := range ids {
		rs, err := c.GetRules(p.cTab, chainRef(p.cTab, flowChain(id)))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			hs = append(hs, r.Handle)
		}
	}
	return hs
}
