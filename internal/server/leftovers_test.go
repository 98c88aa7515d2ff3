package server_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/testenv"
)

// TestStartOverCrashLeftovers: what a crash leaves on the machine (a
// namespace file never mounted, a host's /etc/netns dir without its
// namespace) blocks no start: the server starts on the prefix, its agents
// prune it all, and the data plane works.
func TestStartOverCrashLeftovers(t *testing.T) {
	testenv.NeedRoot(t)
	prefix := testenv.RandomPrefix()
	for _, name := range []string{prefix + "-vpc-aaaaaaaaaaaaaaaaaaaa", prefix + "-i-bbbbbbbbbbbbbbbbbbbb"} {
		if err := os.WriteFile(filepath.Join("/run/netns", name), nil, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	etc := filepath.Join("/etc/netns", prefix+"-i-cccccccccccccccccccc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // in case the server never started
		for _, p := range netdrv.Leftovers(prefix) {
			os.RemoveAll(p)
		}
	})
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 169.254.169.253\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := testenv.Start(t, testenv.Options{Prefix: prefix})
	if left := netdrv.Leftovers(prefix); len(left) > 0 {
		t.Errorf("after the agents' first sync: %v", left)
	}
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	s.WaitEndpoint(t, testenv.Active)
}
