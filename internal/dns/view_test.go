package dns

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// answerKey is what a client sees of an answer: rcode, the sorted answer
// records, and whether the authority section holds an SOA.
func answerKey(s *Server, vpc, name string, qtype uint16) string {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	r := s.respond(vpc, m)
	var rrs []string
	for _, rr := range r.Answer {
		rrs = append(rrs, rr.String())
	}
	slices.Sort(rrs)
	return fmt.Sprintf("%s %v soa=%v", mdns.RcodeToString[r.Rcode], rrs, soaOf(r.Ns) != nil)
}

// TestPatchViewMatchesSetSnapshot applies random patches (names set,
// replaced and removed, nested names that make and unmake empty
// non-terminals, IPv6, out-of-zone names, VPCs appearing) with PatchView
// to one server and the accumulated full views with SetSnapshot to
// another, and checks after every patch that both answer every name of
// the universe, and every ancestor, the same (A, AAAA and TXT).
func TestPatchViewMatchesSetSnapshot(t *testing.T) {
	universe := []string{"a." + testZone, "b.a." + testZone, "c.b.a." + testZone, "x.svc." + testZone, "y.svc." + testZone,
		"svc." + testZone, testZone, "com.privlink.svc.", "Mixed.Case." + testZone}
	var queried []string
	for _, n := range universe {
		n = strings.ToLower(n)
		for _, i := range mdns.Split(n) {
			if !slices.Contains(queried, n[i:]) {
				queried = append(queried, n[i:])
			}
		}
	}
	queried = append(queried, "nope."+testZone)
	vpcs := []string{vpcA, vpcB, "vpc-c"}
	for seed := range uint64(5) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 4))
			patched := newServer(t, Config{}, nil)
			full := map[string]map[string][]netip.Addr{}
			for step := range 400 {
				vpc := vpcs[r.IntN(len(vpcs))]
				names := map[string][]netip.Addr{}
				for range 1 + r.IntN(3) {
					var addrs []netip.Addr
					for range r.IntN(4) {
						if r.IntN(3) == 0 {
							addrs = append(addrs, netip.AddrFrom16([16]byte{0xfd, 15: byte(r.IntN(4))}))
						} else {
							addrs = append(addrs, netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(4))}))
						}
					}
					names[universe[r.IntN(len(universe))]] = addrs
				}
				patched.PatchView(int64(step+1), vpc, names)
				if full[vpc] == nil {
					full[vpc] = map[string][]netip.Addr{}
				}
				for name, addrs := range names {
					if len(addrs) == 0 {
						delete(full[vpc], name)
					} else {
						full[vpc][name] = addrs
					}
				}
				ref := newServer(t, Config{}, &Snapshot{Revision: int64(step + 1), Views: full})
				for _, v := range vpcs {
					for _, name := range queried {
						for _, qt := range []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeTXT} {
							got, want := answerKey(patched, v, name, qt), answerKey(ref, v, name, qt)
							if got != want {
								t.Fatalf("step %d, %s %s %s: patched %s, full %s", step, v, name, mdns.TypeToString[qt], got, want)
							}
						}
					}
				}
				ref.Close()
			}
		})
	}
}

// TestPatchViewKeepsOtherViews: a patch of one view neither copies nor
// changes another (the same *view is served before and after), and a
// query of a patched name sees the new addresses at once.
func TestPatchViewKeepsOtherViews(t *testing.T) {
	s := newServer(t, Config{}, testSnapshot(1))
	before := s.snap.Load().views[vpcB]
	s.PatchView(2, vpcA, map[string][]netip.Addr{ep1: {netip.MustParseAddr("10.0.0.9")}, epEmpty: nil})
	c := s.snap.Load()
	if c.views[vpcB] != before || c.serial != 2 {
		t.Fatalf("patching vpc-a replaced vpc-b's view (%v) or missed the serial (%d)", c.views[vpcB] != before, c.serial)
	}
	if got := answerKey(s, vpcA, ep1, mdns.TypeA); !strings.Contains(got, "10.0.0.9") || strings.Contains(got, "10.0.0.1") {
		t.Errorf("patched name answers %s", got)
	}
	if got := answerKey(s, vpcA, epEmpty, mdns.TypeA); !strings.HasPrefix(got, "NXDOMAIN") {
		t.Errorf("removed name answers %s", got)
	}
	if got := answerKey(s, vpcB, epB, mdns.TypeA); !strings.Contains(got, "10.9.0.1") {
		t.Errorf("the other view answers %s", got)
	}
	s.SetRevision(7)
	if got := s.snap.Load().serial; got != 7 {
		t.Errorf("SetRevision: serial %d", got)
	}
}

// TestHugeNameAnswer: a name with 10,000 addresses (the service name of
// a VPC with 10,000 endpoints) answers over UDP with TC and what fits,
// and over TCP with a full 64 KiB message, also TC (it does not fit
// either); successive answers start at different addresses.
func TestHugeNameAnswer(t *testing.T) {
	huge := "svc.example."
	var addrs []netip.Addr
	for i := range 10000 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}))
	}
	s := newServer(t, Config{}, &Snapshot{Revision: 1, Views: map[string]map[string][]netip.Addr{vpcA: {huge: addrs}}})
	addr := serveVPC(t, s, vpcA)
	for _, tc := range []struct {
		netw     string
		opts     []qopt
		min, max int
		tc       bool
	}{
		{"udp", nil, 1, 512 / 16, true},
		{"udp", []qopt{withEDNS(4096, false)}, 200, 4096 / 16, true},
		{"tcp", nil, 3000, 65535 / 16, true},
	} {
		first := map[string]bool{}
		for range 3 {
			r := exchange(t, tc.netw, addr, huge, mdns.TypeA, tc.opts...)
			if n := len(r.Answer); n < tc.min || n > tc.max || r.Truncated != tc.tc {
				t.Fatalf("%s %v: %d answers (want %d..%d), TC %v", tc.netw, tc.opts, n, tc.min, tc.max, r.Truncated)
			}
			first[r.Answer[0].(*mdns.A).A.String()] = true
		}
		if len(first) < 2 {
			t.Errorf("%s: three answers started with the same address %v", tc.netw, first)
		}
	}
}

// TestPatchViewWhileServing: queries over UDP run while one view is
// patched over and over (names added and removed, the shared name's
// addresses growing); every answer is a whole state of its name (run
// with -race: the views' locking).
func TestPatchViewWhileServing(t *testing.T) {
	s := newServer(t, Config{}, testSnapshot(1))
	addr := serveVPC(t, s, vpcA)
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				m := new(mdns.Msg)
				m.SetQuestion("shared."+testZone, mdns.TypeA)
				m.SetEdns0(4096, false) // 150 records fit: answers are whole
				r, _, err := c.Exchange(m, addr)
				if err != nil {
					errs <- err
					return
				}
				// The shared name holds addresses 10.5.0.1..n for some n:
				// any answer is exactly such a set, never a mix.
				var got []int
				for _, rr := range r.Answer {
					got = append(got, int(rr.(*mdns.A).A.To4()[3]))
				}
				slices.Sort(got)
				for i, o := range got {
					if o != i+1 || r.Truncated {
						errs <- fmt.Errorf("answer %v (TC %v) is not a whole state", got, r.Truncated)
						return
					}
				}
			}
		}()
	}
	var shared []netip.Addr
	for i := 1; i <= 150; i++ {
		shared = append(shared, netip.AddrFrom4([4]byte{10, 5, 0, byte(i)}))
		s.PatchView(int64(i+1), vpcA, map[string][]netip.Addr{
			"shared." + testZone:                   slices.Clone(shared),
			fmt.Sprintf("n%d.x.%s", i, testZone):   {shared[i-1]},
			fmt.Sprintf("n%d.x.%s", i-1, testZone): nil,
		})
		time.Sleep(time.Millisecond)
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := answerKey(s, vpcA, "x."+testZone, mdns.TypeA); !strings.HasPrefix(got, "NOERROR") {
		t.Errorf("x.<zone> (parent of the last name) answers %s, want NODATA", got)
	}
	if got := answerKey(s, vpcA, "n149.x."+testZone, mdns.TypeA); !strings.HasPrefix(got, "NXDOMAIN") {
		t.Errorf("a removed name answers %s", got)
	}
}
