package proxy

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"testing"
)

// TestMain runs every test twice: on the event-loop engine (what the agent
// uses on Linux) and on goroutines (the portable path).
func TestMain(m *testing.M) {
	flag.Parse()
	// Keep test output readable: Info/Warn logs only with -v.
	level := slog.LevelError
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	// Starting the engine's loops first keeps goroutine-leak checks from
	// counting them.
	if _, err := sharedEngine(); err == nil {
		listenerOpts = []Option{WithSockets(Socket)}
		fmt.Fprintln(os.Stderr, "=== proxy tests on the event-loop engine")
		if code := m.Run(); code != 0 {
			os.Exit(code)
		}
	}
	listenerOpts = nil
	fmt.Fprintln(os.Stderr, "=== proxy tests on goroutines")
	os.Exit(m.Run())
}
