package dns

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather returns metric families by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func counterWith(mf *dto.MetricFamily, labels map[string]string) float64 {
	if mf == nil {
		return 0
	}
	for _, m := range mf.GetMetric() {
		match := true
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
				match = false
			}
		}
		if match {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mf := gather(t, reg)[name]
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("metric %s missing", name)
	}
	return mf.GetMetric()[0].GetGauge().GetValue()
}

// Bullet: metrics queries_total{qtype,rcode}, snapshot_age_seconds (computed
// at scrape), snapshot_revision.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServer(t, Config{Registerer: reg}, nil)
	addr := serveVPC(t, s, vpcA)

	time.Sleep(100 * time.Millisecond)
	age0 := gaugeValue(t, reg, "privlink_dns_snapshot_age_seconds")
	if age0 < 0.1 {
		t.Errorf("age before first snapshot = %v, want time since New", age0)
	}
	exchange(t, "udp", addr, ep1, mdns.TypeA) // SERVFAIL
	s.SetSnapshot(testSnapshot(1234))
	age1 := gaugeValue(t, reg, "privlink_dns_snapshot_age_seconds")
	if age1 >= age0 {
		t.Errorf("age after SetSnapshot %v, not reset (was %v)", age1, age0)
	}
	time.Sleep(30 * time.Millisecond)
	if age2 := gaugeValue(t, reg, "privlink_dns_snapshot_age_seconds"); age2 < age1+0.029 {
		t.Errorf("age not computed at scrape time: %v then %v", age1, age2)
	}
	if rev := gaugeValue(t, reg, "privlink_dns_snapshot_revision"); rev != 1234 {
		t.Errorf("revision = %v", rev)
	}

	for range 3 {
		exchange(t, "udp", addr, ep1, mdns.TypeA)
	}
	exchange(t, "udp", addr, "nope."+testZone, mdns.TypeA)
	exchange(t, "tcp", addr, ep1, mdns.TypeAAAA)
	exchange(t, "udp", addr, "example.com.", mdns.TypeMX)
	rawExchange(t, addr, []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff}, 2*time.Second) // undecodable

	mf := gather(t, reg)["privlink_dns_queries_total"]
	for _, tc := range []struct {
		qtype, rcode string
		want         float64
	}{
		{"A", "NOERROR", 3},
		{"A", "SERVFAIL", 1},
		{"A", "NXDOMAIN", 1},
		{"AAAA", "NOERROR", 1},
		{"MX", "REFUSED", 1},
		{"none", "FORMERR", 1},
	} {
		if got := counterWith(mf, map[string]string{"qtype": tc.qtype, "rcode": tc.rcode}); got != tc.want {
			t.Errorf("queries_total{qtype=%q,rcode=%q} = %v, want %v", tc.qtype, tc.rcode, got, tc.want)
		}
	}

	// One Server per Registerer; Close frees the names again.
	if _, err := New(Config{Zone: testZone, Registerer: reg}); err == nil {
		t.Error("second registration succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(Config{Zone: testZone, Registerer: reg})
	if err != nil {
		t.Fatalf("re-register after Close: %v", err)
	}
	s2.Close()
}

// Bullet (SetSnapshot): swaps are atomic: concurrent queries see either the
// old or the new record set, never a mix, and the next query after a swap
// sees the new one.
func TestSnapshotSwapAtomic(t *testing.T) {
	s := newServer(t, Config{}, testSnapshot(1))
	addr := serveVPC(t, s, vpcA)
	mk := func(rev int64, a, b string) *Snapshot {
		snap := testSnapshot(rev)
		snap.Views[vpcA][ep1] = []netip.Addr{netip.MustParseAddr(a), netip.MustParseAddr(b)}
		return snap
	}
	snaps := []*Snapshot{mk(2, "10.2.0.1", "10.2.0.2"), mk(3, "10.3.0.1", "10.3.0.2")}
	valid := map[string]bool{"10.2.0.1,10.2.0.2": true, "10.3.0.1,10.3.0.2": true, "10.0.0.1,10.0.0.2": true}

	stop := make(chan struct{})
	swapped := make(chan int)
	go func() { // swap continuously while the clients query
		i := 0
		for ; ; i++ {
			select {
			case <-stop:
				swapped <- i
				return
			default:
				s.SetSnapshot(snaps[i%2])
			}
		}
	}()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
			for range 250 {
				m := new(mdns.Msg)
				m.SetQuestion(ep1, mdns.TypeA)
				r, _, err := c.Exchange(m, addr)
				if err != nil {
					bad.Add(1)
					continue
				}
				set := aSet(r.Answer)
				ok := false
				for p := range valid {
					if a, b, _ := strings.Cut(p, ","); set[a] && set[b] && len(set) == 2 {
						ok = true
					}
				}
				if !ok {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if n := <-swapped; n < 10 {
		t.Errorf("only %d swaps happened during the queries", n)
	}
	if n := bad.Load(); n != 0 {
		t.Errorf("%d queries saw a torn or failed answer", n)
	}
}

func TestServeStopClose(t *testing.T) {
	s := newServer(t, Config{}, testSnapshot(1))
	if err := s.Serve(vpcA, nil, nil); err == nil {
		t.Error("Serve with no sockets succeeded")
	}
	pc, ln, addr := listenPair(t)
	if err := s.Serve("", pc, ln); err == nil {
		t.Error("Serve with empty vpc id succeeded")
	}

	// UDP only, then TCP only, on two ports for the same VPC.
	if err := s.Serve(vpcA, pc, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(vpcA, nil, ln); err != nil {
		t.Fatal(err)
	}
	if r := exchange(t, "udp", addr, ep1, mdns.TypeA); len(r.Answer) != 2 {
		t.Fatal(r)
	}
	if r := exchange(t, "tcp", addr, ep1, mdns.TypeA); len(r.Answer) != 2 {
		t.Fatal(r)
	}
	addrB := serveVPC(t, s, vpcB)

	if err := s.Stop(vpcA); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(vpcA); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	// The sockets are closed: the ports can be bound again.
	pc2, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Errorf("udp port still in use after Stop: %v", err)
	} else {
		pc2.Close()
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("tcp port still in use after Stop: %v", err)
	} else {
		ln2.Close()
	}
	// Other VPCs are unaffected.
	if r := exchange(t, "udp", addrB, epB, mdns.TypeA); len(r.Answer) != 1 {
		t.Errorf("vpc-b after stopping vpc-a: %v", r)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	c, err := net.Dial("tcp", addrB)
	if err == nil {
		c.Close()
		t.Error("vpc-b still accepting after Close")
	}
	pc3, ln3, _ := listenPair(t)
	defer pc3.Close()
	defer ln3.Close()
	if err := s.Serve(vpcA, pc3, ln3); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
}

// Stop must not hang on a query that is waiting for a slow upstream.
func TestStopDuringForward(t *testing.T) {
	s := newServer(t, Config{Upstreams: []string{blackholeUpstream(t)}}, testSnapshot(1))
	addr := serveVPC(t, s, vpcA)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := new(mdns.Msg)
	m.SetQuestion("example.com.", mdns.TypeA)
	b, _ := m.Pack()
	c.Write(b)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := s.Stop(vpcA); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > stopTimeout+time.Second {
		t.Errorf("Stop took %v", took)
	}
}

// Bullet (logging): one structured debug record per query, nothing at the
// default level.
func TestDebugLogging(t *testing.T) {
	var mu sync.Mutex
	var buf strings.Builder
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) })

	quiet := newServer(t, Config{Logger: slog.New(slog.NewTextHandler(w, nil))}, testSnapshot(1))
	exchange(t, "udp", serveVPC(t, quiet, vpcA), ep1, mdns.TypeA)
	mu.Lock()
	if strings.Contains(buf.String(), "msg=query") {
		t.Errorf("per-query log at default level:\n%s", buf.String())
	}
	mu.Unlock()

	loud := newServer(t, Config{Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))}, testSnapshot(1))
	exchange(t, "udp", serveVPC(t, loud, vpcA), ep1, mdns.TypeA)
	// The record is written after the reply is sent: wait for it.
	var out string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		out = buf.String()
		mu.Unlock()
		if strings.Contains(out, "msg=query") {
			break
		}
	}
	for _, want := range []string{"msg=query", "vpc=vpc-a", "qname=" + ep1, "qtype=A", "rcode=NOERROR", "answers=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("debug log lacks %q:\n%s", want, out)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
