package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// profileEnv names a directory: when set, the privlink server runs with
// --debug-pprof and the harness takes a CPU profile of it during every
// timed run on the privlink path, written to
// DIR/privlink-<workload>-run<N>.pprof (see docs/benchmarks.md, Profiles).
const profileEnv = "PLBENCH_CPUPROFILE"

func profileDir() string { return os.Getenv(profileEnv) }

// startProfile starts a CPU profile of the privlink server for about dur
// when $PLBENCH_CPUPROFILE is set and path is privlink's; the returned
// function waits for it and writes it. Failures are recorded as report
// errors (a profile asked for and not taken is a failed run).
func (h *harness) startProfile(ctx context.Context, workload, path string, run int, dur time.Duration) func() {
	dir := profileDir()
	if dir == "" || path != pathPrivlink {
		return func() {}
	}
	return h.profileOf(ctx, h.srv.metrics, filepath.Join(dir, fmt.Sprintf("privlink-%s-run%d.pprof", workload, run)), dur)
}

// profileOf takes a CPU profile of about dur from the privlink process
// whose management listener is metrics into file.
func (h *harness) profileOf(ctx context.Context, metrics, file string, dur time.Duration) func() {
	secs := max(1, int(dur.Round(time.Second)/time.Second))
	done := make(chan error, 1)
	go func() { done <- fetchProfile(ctx, metrics, secs, file) }()
	return func() {
		if err := <-done; err != nil {
			h.rep.addError("cpu profile "+file, err)
			return
		}
		slog.Info("cpu profile written", "file", file, "seconds", secs)
	}
}

// fetchProfile takes a CPU profile of secs; it waits up to 2 s for one
// still running (the start-up profile ends just after /readyz says ready).
func fetchProfile(ctx context.Context, metrics string, secs int, file string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	for wait := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := fetchPprof(ctx, metrics, fmt.Sprintf("profile?seconds=%d", secs), file)
		if err == nil || !strings.Contains(err.Error(), "already in use") || time.Now().After(wait) {
			return err
		}
	}
}

// fetchPprof writes the server's /debug/pprof/WHAT to file.
func fetchPprof(ctx context.Context, metrics, what, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/%s", metrics, what), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
