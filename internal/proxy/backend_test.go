package proxy

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestZoneAffinity(t *testing.T) {
	checkGoroutines(t)
	named := func(name string) func(net.Conn) {
		return func(c net.Conn) { c.Write([]byte(name + "\n")) }
	}
	srvA := startServer(t, false, named("a"))
	srvB := startServer(t, false, named("b"))
	h := NewHealth(directDial, 20*time.Millisecond, 500*time.Millisecond, nil)
	t.Cleanup(h.Close)
	h.Track([]netip.AddrPort{srvA.addr(), srvB.addr()})

	base := Config{EndpointID: "ep-1", ZoneID: "a", Backends: []Backend{
		{ZoneID: "a", Addr: srvA.addr()},
		{ZoneID: "b", Addr: srvB.addr()},
	}}
	l, addr := startProxy(t, base, h, nil)

	// hits opens n connections and counts which backend answered.
	hits := func(t *testing.T, n int) map[string]int {
		t.Helper()
		got := map[string]int{}
		for i := 0; i < n; i++ {
			c := dial(t, addr)
			name, err := readLine(c)
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			got[name]++
			c.Close()
		}
		return got
	}
	for _, step := range []struct {
		name     string
		affinity bool
		zone     string
		killA    bool
		want     map[string]int
	}{
		{"affinity prefers own zone", true, "a", false, map[string]int{"a": 10}},
		{"affinity other zone", true, "b", false, map[string]int{"b": 10}},
		{"no affinity round-robins", false, "a", false, map[string]int{"a": 5, "b": 5}},
		{"no local backend falls over", true, "c", false, nil}, // any spread, all succeed
		{"local backend down falls over", true, "a", true, map[string]int{"b": 10}},
		{"no affinity skips unhealthy", false, "a", false, map[string]int{"b": 10}},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.killA {
				srvA.stop()
				eventually(t, 2*time.Second, "health check to mark a down", func() bool { return !h.Healthy(srvA.addr()) })
			}
			cfg := base
			cfg.ZoneAffinity, cfg.ZoneID = step.affinity, step.zone
			l.Update(cfg)
			got := hits(t, 10)
			if step.want == nil {
				if got["a"]+got["b"] != 10 {
					t.Fatalf("hits %v", got)
				}
				return
			}
			if len(got) != len(step.want) {
				t.Fatalf("hits %v, want %v", got, step.want)
			}
			for k, v := range step.want {
				if got[k] != v {
					t.Fatalf("hits %v, want %v", got, step.want)
				}
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	a1, a2 := netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.2:80")
	b1, b2 := netip.MustParseAddrPort("10.0.1.1:80"), netip.MustParseAddrPort("10.0.1.2:80")
	backends := []Backend{{"a", a1}, {"a", a2}, {"b", b1}, {"b", b2}}
	for _, tc := range []struct {
		name     string
		affinity bool
		down     []netip.AddrPort
		rr       uint64
		want     []netip.AddrPort
	}{
		{"affinity", true, nil, 0, []netip.AddrPort{a1, a2, b1}},
		{"affinity rr", true, nil, 1, []netip.AddrPort{a2, a1, b2}},
		{"affinity one local down", true, []netip.AddrPort{a1}, 0, []netip.AddrPort{a2, b1, b2}},
		{"affinity all local down", true, []netip.AddrPort{a1, a2}, 0, []netip.AddrPort{b1, b2}},
		{"no affinity", false, nil, 2, []netip.AddrPort{b1, b2, a1}},
		{"no affinity skips down", false, []netip.AddrPort{b1}, 2, []netip.AddrPort{b2, a1, a2}},
		{"all down: panic mode", true, []netip.AddrPort{a1, a2, b1, b2}, 0, []netip.AddrPort{a1, a2, b1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHealth(directDial, time.Hour, time.Second, nil)
			defer h.Close()
			h.Track([]netip.AddrPort{a1, a2, b1, b2})
			for _, d := range tc.down {
				h.markDown(d)
			}
			st := compile(Config{ZoneID: "a", ZoneAffinity: tc.affinity, Backends: backends}, nil, nil, NewBudget(64), nil)
			var out [MaxDialAttempts]netip.AddrPort
			got := out[:st.candidates(h, tc.rr, &out)]
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	t.Run("no backends", func(t *testing.T) {
		st := compile(Config{}, nil, nil, NewBudget(64), nil)
		var out [MaxDialAttempts]netip.AddrPort
		if n := st.candidates(nil, 0, &out); n != 0 {
			t.Fatalf("got %d candidates", n)
		}
	})
}
