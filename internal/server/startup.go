package server

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"sync"
	"time"
)

// StartupCPUProfileEnv names the environment variable that, when the
// --startup-cpuprofile flag is not given, names the file to write a CPU
// profile of the start-up to (process start until ready).
const StartupCPUProfileEnv = "PRIVLINK_STARTUP_CPUPROFILE"

// startupTrace times Start's phases: each phase is logged at INFO as it
// ends (its duration and the time since the trace began) and, once the
// process is ready, one line sums them all up. With a profile file it
// also holds a CPU profile from its beginning until done.
type startupTrace struct {
	log     *slog.Logger
	t0      time.Time
	mu      sync.Mutex
	last    time.Time
	phases  []any // name, duration pairs, for the summary line
	profile *os.File
}

// beginStartup starts the trace (and the CPU profile into file, if any).
// A profile that cannot be started is an error: the operator asked for it.
func beginStartup(log *slog.Logger, file string) (*startupTrace, error) {
	now := time.Now()
	t := &startupTrace{log: log, t0: now, last: now}
	if file == "" {
		return t, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("start-up CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start-up CPU profile %s: %w", file, err)
	}
	t.profile = f
	return t, nil
}

// phase marks the end of the named phase, begun when the previous one
// ended.
func (t *startupTrace) phase(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	d := now.Sub(t.last)
	t.last = now
	t.phases = append(t.phases, name, d.Round(time.Millisecond).String())
	t.log.Info("start-up phase", "phase", name, "took", d.Round(time.Millisecond).String(), "sinceStart", now.Sub(t.t0).Round(time.Millisecond).String())
}

// span logs a phase that ran alongside the sequential ones, from begin
// until now (the state read, each agent's first round).
func (t *startupTrace) span(name string, begin time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	d := now.Sub(begin)
	t.phases = append(t.phases, name, d.Round(time.Millisecond).String())
	t.log.Info("start-up phase", "phase", name, "took", d.Round(time.Millisecond).String(), "sinceStart", now.Sub(t.t0).Round(time.Millisecond).String())
}

// done stops the profile; with ready it logs the summary line.
func (t *startupTrace) done(ready bool) {
	if t == nil {
		return
	}
	if t.profile != nil {
		pprof.StopCPUProfile()
		if err := t.profile.Close(); err != nil {
			t.log.Warn("start-up CPU profile", "file", t.profile.Name(), "err", err)
		} else {
			t.log.Info("start-up CPU profile written", "file", t.profile.Name())
		}
		t.profile = nil
	}
	if ready {
		t.mu.Lock()
		args := append([]any{"total", time.Since(t.t0).Round(time.Millisecond).String()}, t.phases...)
		t.mu.Unlock()
		t.log.Info("start-up phases", args...)
	}
}
