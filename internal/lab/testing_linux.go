//go:build linux

package lab

import (
	"log/slog"
	"os"
	"strings"
	"testing"
)

// New builds a lab for a test: it skips the test when not root, sweeps
// labs whose owner died, logs to the test (debug level with
// PRIVLINK_TEST_LOG set), puts process logs in a test temp directory and
// closes the lab when the test ends, failing it if anything is left.
func New(t testing.TB, cfg Config) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces (run the suite as root, as CI does)")
	}
	if swept, err := SweepStale(); err != nil {
		t.Logf("sweeping stale labs: %v", err)
	} else if len(swept) > 0 {
		t.Logf("swept stale labs %v", swept)
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logger == nil {
		level := slog.LevelWarn
		if os.Getenv("PRIVLINK_TEST_LOG") != "" {
			level = slog.LevelDebug
		}
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	}
	l, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			procs := append([]*Proc(nil), l.procs...)
			l.mu.Unlock()
			for _, p := range procs {
				t.Logf("--- %s on %s (%s):\n%s", p.Name, p.Node.Name, p.Log, p.Output())
			}
		}
		if err := l.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
	})
	return l
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
