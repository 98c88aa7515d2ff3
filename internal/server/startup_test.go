package server_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/testenv"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct{ testenv.LogBuffer }

// records are the JSON log records with message msg.
func (s *syncBuffer) records(t *testing.T, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(s.String(), "\n") {
		var r map[string]any
		if line == "" || json.Unmarshal([]byte(line), &r) != nil {
			continue
		}
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// TestStartupPhasesAndProfile: a server with a start-up profile file
// writes a CPU profile of its start and logs each start-up phase and one
// summary line with every phase; a restart on the same data dir skips the
// account index pass (its marker is in the store).
func TestStartupPhasesAndProfile(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	profile := filepath.Join(t.TempDir(), "startup.pprof")
	start := func(logs *syncBuffer, profile string) *testenv.Env {
		return testenv.Start(t, testenv.Options{DataDir: dir, AgentZones: []string{"cn-hangzhou-h"}, Server: func(c *server.Config) {
			c.StartupCPUProfile = profile
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}})
	}
	var first syncBuffer
	e := start(&first, profile)
	b, err := os.ReadFile(profile)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b { // pprof profiles are gzipped protobuf
		t.Fatalf("start-up profile is not a pprof profile (%d bytes)", len(b))
	}
	sums := first.records(t, "start-up phases")
	if len(sums) != 1 {
		t.Fatalf("%d start-up summary lines, want 1", len(sums))
	}
	for _, phase := range []string{"total", "store", "driver", "api", "controllers", "agentsStarted", "listeners", "stateRead", "agentFirstRound.cn-hangzhou-h", "ready"} {
		if _, ok := sums[0][phase]; !ok {
			t.Errorf("start-up summary lacks %q: %v", phase, sums[0])
		}
	}
	if n := len(first.records(t, "start-up phase")); n < 9 {
		t.Errorf("%d start-up phase lines, want one per phase (9)", n)
	}
	if len(first.records(t, "indexed resources by account for the quotas")) != 1 {
		t.Error("first start on a new store did not run the account index pass")
	}
	e.Stop()

	var second syncBuffer
	start(&second, "")
	if n := len(second.records(t, "indexed resources by account for the quotas")); n != 0 {
		t.Error("restart ran the account index pass although its marker was there")
	}
	if len(second.records(t, "start-up phases")) != 1 {
		t.Error("restart logged no start-up summary")
	}
}
