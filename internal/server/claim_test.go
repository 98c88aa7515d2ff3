package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/testenv"
)

// TestPrefixClaim: a second deployment (its own etcd) started with the
// prefix of a running one refuses to start, names the holder's pid, and
// touches none of its namespaces; a process of the same deployment
// (a standalone agent) shares the prefix; once the holder is gone the
// prefix is free.
func TestPrefixClaim(t *testing.T) {
	testenv.NeedRoot(t)
	first := testenv.Start(t, testenv.Options{})
	testenv.BuildScenario(t, first, testenv.ScenarioOptions{AutoAccept: true})
	inv := func() []string {
		i, err := first.Driver.Topology.Inventory()
		if err != nil {
			t.Fatal(err)
		}
		var all []string
		all = append(all, i.VPCs...)
		all = append(all, i.Hosts...)
		for _, e := range i.ENIs {
			all = append(all, e.IP.String())
		}
		for _, v := range i.VSwitches {
			all = append(all, v.VSwitchID)
		}
		slices.Sort(all)
		return all
	}
	testenv.Eventually(t, "the first server's hosts and ENIs exist", func() error {
		if i, _ := first.Driver.Topology.Inventory(); len(i.Hosts) < 3 || len(i.ENIs) < 2 {
			return fmt.Errorf("inventory %+v", i)
		}
		return nil
	})
	before := inv()

	second := func() (*server.Server, error) {
		return server.Start(context.Background(), server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
			Network: netdrv.Netns, NetnsPrefix: first.Prefix, Logger: first.Config().Logger,
			EtcdClientURL: fmt.Sprintf("https://127.0.0.1:%d", testenv.FreePort(t)),
			EtcdPeerURL:   fmt.Sprintf("https://127.0.0.1:%d", testenv.FreePort(t))})
	}
	s, err := second()
	if err == nil {
		s.Stop()
		t.Fatal("a second deployment started on a prefix in use")
	}
	t.Logf("second deployment: %v", err)
	if !errors.Is(err, netdrv.ErrPrefixHeld) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("error does not say the prefix is held by pid %d: %v", os.Getpid(), err)
	}
	if after := inv(); !slices.Equal(after, before) {
		t.Errorf("the refused start changed the first deployment's namespaces:\nbefore %v\nafter  %v", before, after)
	}

	// The same deployment's standalone agent shares the prefix.
	cfg := server.Config{AgentOnly: true, AgentZones: []string{"cn-hangzhou-i"}, Network: netdrv.Netns,
		NetnsPrefix: first.Prefix, Logger: first.Config().Logger}
	first.JoinEtcd(&cfg)
	a, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("an agent of the same deployment: %v", err)
	}
	a.Stop()

	// With the first deployment stopped, the prefix is free.
	first.Stop()
	s, err = second()
	if err != nil {
		t.Fatalf("second deployment once the first stopped: %v", err)
	}
	// It stops, removes the prefix's namespaces, then frees the prefix.
	if err := s.StopAndCleanup(); err != nil {
		t.Fatal(err)
	}
	if left := netdrv.Leftovers(first.Prefix); len(left) > 0 {
		t.Errorf("after StopAndCleanup: %v", left)
	}
	for _, ext := range []string{".lock", ".owner"} {
		if _, err := os.Stat(filepath.Join(netdrv.ClaimDir, "netns-"+first.Prefix+ext)); !os.IsNotExist(err) {
			t.Errorf("claim file %s left by the last holder: %v", ext, err)
		}
	}
}
