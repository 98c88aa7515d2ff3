package apiserver_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/privlink/privlink/internal/testenv"
)

// The stateful API fuzzer: a byte string drives a sequence of calls by
// several accounts on real resources (VPCs, vSwitches, security groups and
// their rules, hosts, services, allow-lists, endpoints, accepts and
// rejects, deletes, token rotation), with IDs drawn from the caller's own
// resources, other accounts' resources, deleted ones and garbage. Every
// answer must be a 2xx or a declared 4xx with a valid api.Error body
// (never a 5xx); a call that succeeds must only have touched what its
// caller owns or is entitled to; after the sequence every account's lists
// and gets show exactly what the model says it owns or is entitled to,
// the store's records are consistent (no orphans, no address handed out
// twice, no Connected endpoint of an account the service does not admit),
// and everything can be deleted, leaving no key behind.
//
// CI runs the seed corpus (generated seeds plus testdata/fuzz/
// FuzzStatefulAPI) and TestStatefulAPI's random sequences; a campaign:
//
//	go test ./internal/apiserver/ -run '^$' -fuzz FuzzStatefulAPI -fuzztime 10m

// statefulSeeds are the generated seed inputs (also the seeded test's).
const (
	statefulSeeds   = 6
	statefulSeedLen = 400 // bytes: about 80 calls
)

func seedBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func FuzzStatefulAPI(f *testing.F) {
	for s := uint64(1); s <= statefulSeeds; s++ {
		f.Add(seedBytes(s, statefulSeedLen))
	}
	e := testenv.Start(f, testenv.Options{Network: "loopback", AgentZones: []string{}})
	n := 0
	f.Fuzz(func(t *testing.T, in []byte) {
		n++
		runSequence(t, e, fmt.Sprintf("f%d", n), in)
	})
}

// TestStatefulAPI runs longer random sequences than the fuzz seeds, from
// fixed seeds (reproducible: the failing seed is in the subtest's name).
func TestStatefulAPI(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	for s := uint64(100); s < 104; s++ {
		t.Run(fmt.Sprintf("seed%d", s), func(t *testing.T) {
			runSequence(t, e, fmt.Sprintf("s%d", s), seedBytes(s, 2*statefulSeedLen))
		})
	}
}

// runSequence plays in as calls by three fresh accounts, then verifies and
// tears everything down.
func runSequence(t *testing.T, e *testenv.Env, tag string, in []byte) {
	w := newWorld(t, e, tag)
	src := &byteSource{b: in}
	for i := 0; i < maxCalls && !src.done(); i++ {
		w.step(src)
		if t.Failed() {
			t.Logf("calls so far:\n%s", w.journal())
			t.FailNow()
		}
	}
	w.verify()
	if os.Getenv("PLFUZZ_DEBUG") != "" {
		t.Logf("calls:\n%s", w.journal())
	}
	w.teardown()
	if t.Failed() {
		t.Logf("calls:\n%s", w.journal())
	}
}

// maxCalls bounds a sequence whatever the input's length.
const maxCalls = 200

// byteSource hands out the input's bytes, then zeros.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	s.i++
	return s.b[s.i-1]
}

func (s *byteSource) done() bool { return s.i >= len(s.b) }

// n is a number in [0, k).
func (s *byteSource) n(k int) int { return int(s.next()) % k }
