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
	quickRun(t, "go test ./bench (quick mode)", "--quick")
}

// TestOverloadQuick runs the overload workload briefly (3 s before, 3 s
// during a bounded flood): every request of the victim tenant, to its
// endpoint and to the API, must succeed. Latencies are reported, never
// asserted.
func TestOverloadQuick(t *testing.T) {
	quickRun(t, "go test ./bench -run TestOverloadQuick", "--quick", "--only", "overload")
}

// TestSoakQuick holds 1,000 connections with a round trip each every 2 s
// for 20 s: all must open and no round trip may fail. The memory slope is
// reported, never asserted.
func TestSoakQuick(t *testing.T) {
	quickRun(t, "go test ./bench -run TestSoakQuick", "--quick", "--only", "soak")
}

// TestScaleQuick creates 300 endpoints of one proxy service and measures
// memory, create → first traffic, DNS over the view's names, the list and
// a restart until every endpoint serves again: every endpoint must carry
// a round trip after the fill and after the restart, and no query or
// request may fail. Figures are reported, never asserted.
func TestScaleQuick(t *testing.T) {
	quickRun(t, "go test ./bench -run TestScaleQuick", "--quick", "--only", "scale")
}

// TestScaleQuickNAT is TestScaleQuick with the service forwarded by
// kernel NAT (300 flows in one pair per consumer VPC).
func TestScaleQuickNAT(t *testing.T) {
	quickRun(t, "go test ./bench -run TestScaleQuickNAT", "--quick", "--only", "scale", "--scale-mode", "nat")
}

// TestScaleQuickAgentProcess is TestScaleQuick with zone h's agent in a
// process of its own, restarted alone (--scale-agent-process): the
// restart rows are the agent's, its memory and goroutines are counted.
func TestScaleQuickAgentProcess(t *testing.T) {
	quickRun(t, "go test ./bench -run TestScaleQuickAgentProcess", "--quick", "--only", "scale", "--scale-agent-process")
}

// TestScaleQuickAgentKeeper is TestScaleQuickAgentProcess with the agent
// under a socket keeper (--scale-agent-keeper), killed (-9) each run.
func TestScaleQuickAgentKeeper(t *testing.T) {
	quickRun(t, "go test ./bench -run TestScaleQuickAgentKeeper", "--quick", "--only", "scale", "--scale-agent-process", "--scale-agent-keeper")
}

// quickRun runs the benchmark with args and checks every row of the
// selection has its values, no error was recorded (a failed request or
// round trip is one) and nothing is left behind.
func quickRun(t *testing.T, command string, args ...string) {
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
	cfg, err := parseFlags(args)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Command = command
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
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
		if !rep.rowSelected(r) {
			continue
		}
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

// TestHAProxyTunedFits: the tuned HAProxy's maxconn covers the idle
// workload's connections at every descriptor limit the harness may run
// with, and its sockets and pipes fit under the limit (HAProxy refuses to
// start otherwise, or queues connections beyond maxconn).
func TestHAProxyTunedFits(t *testing.T) {
	for _, nofile := range []uint64{4096, 20000, 65536, 1 << 20} {
		maxconn, maxpipes := haproxyPipes(nofile)
		idle := (nofile - 1024) / fdsPerProxiedConn
		if maxconn < min(idle, 100000) {
			t.Errorf("nofile %d: maxconn %d below the %d idle connections", nofile, maxconn, idle)
		}
		if need := 2*maxconn + 2*maxpipes; need > nofile {
			t.Errorf("nofile %d: %d descriptors needed", nofile, need)
		}
	}
}
