package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the benchmark's children (load
// generator, servers, probe), which the harness starts by re-executing
// its own binary.
func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(childMain(role, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestQuickRun runs the whole benchmark once in --quick mode and checks
// that the table has every row with a value in every column it should
// have, that no error was recorded and that nothing is left behind. It
// asserts nothing about the figures.
func TestQuickRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the benchmark creates network namespaces (run the suite as root, as CI does)")
	}
	for _, tool := range []string{"haproxy", "nginx", "ip", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install haproxy nginx libnginx-mod-stream iproute2)", tool)
		}
	}
	if _, err := os.Stat(nginxStreamModule); err != nil {
		t.Skip("nginx stream module is not installed (apt-get install libnginx-mod-stream)")
	}
	cfg, err := parseFlags([]string{"--quick"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Command = "go test ./bench (quick mode)"
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	var out bytes.Buffer
	rep, err := Run(ctx, cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if rep.Failed() {
		t.Fatalf("the report has errors:\n%s", strings.Join(rep.Errors(), "\n"))
	}
	table := out.String()
	for _, r := range rows(rep.cfg) {
		if !strings.Contains(table, "| "+r.title+" | "+r.unit+" |") {
			t.Errorf("row %q missing from the table", r.title)
		}
		for _, p := range r.paths {
			if len(rep.Values(r.id, p)) == 0 {
				t.Errorf("row %q has no value for %s", r.title, p)
			}
		}
	}
	if strings.Contains(table, "**missing**") {
		t.Error("the table has missing cells")
	}
	// Run's cleanup reports (as errors, checked above) any process it had
	// to kill and any namespace it found left; check namespaces again.
	if left := leftovers(rep.prefix); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
