package main

import (
	"strings"
	"testing"
)

// TestNodesQuick runs the rows across nodes once in --quick mode (a
// three-node lab with the real privlink processes, 300 ms per load): every
// row has a value for each of its paths (direct, privlink, HAProxy), no
// load had a failed operation, and the lab (namespaces, processes) is gone
// afterwards. It asserts nothing about the figures.
func TestNodesQuick(t *testing.T) {
	quickRun(t, "go test ./bench -run TestNodesQuick", "--quick", "--only", "nodes")
}

// TestNodesSelection: the rows across nodes are opt-in, and asked alone
// they skip the single-node topology.
func TestNodesSelection(t *testing.T) {
	for _, c := range []struct {
		args          []string
		rows, alone   bool
		mainWorkloads bool
	}{
		{nil, false, false, true},
		{[]string{"--only", "nodes"}, true, true, false},
		{[]string{"--only", "nodes|pingpong-c1"}, true, false, true},
		{[]string{"--only", "bulk"}, false, false, true},
	} {
		cfg, err := parseFlags(c.args)
		if err != nil {
			t.Fatal(err)
		}
		var xn, main int
		for _, r := range rows(cfg) {
			if strings.HasPrefix(r.id, "xn-") {
				xn++
			} else if cfg.selected(r.workload) {
				main++
			}
		}
		if (xn > 0) != c.rows || cfg.nodesOnly() != c.alone || (main > 0) != c.mainWorkloads {
			t.Errorf("%v: %d rows across nodes, nodesOnly %v, %d single-node rows selected", c.args, xn, cfg.nodesOnly(), main)
		}
	}
}

// TestPathOrder: each run starts one path later, so over as many runs as
// there are paths every path takes every place once; --paths selects paths
// by name and rejects a bad pattern.
func TestPathOrder(t *testing.T) {
	ps := []dpPath{{name: "a"}, {name: "b"}, {name: "c"}}
	for k, want := range []string{"abc", "bca", "cab", "abc"} {
		var got strings.Builder
		for _, p := range rotated(ps, k) {
			got.WriteString(p.name)
		}
		if got.String() != want {
			t.Errorf("run %d: order %s, want %s", k+1, got.String(), want)
		}
	}
	if rotated(nil, 2) != nil {
		t.Error("no paths: want none")
	}
	cfg, err := parseFlags([]string{"--paths", "^(direct|privlink-nat)$"})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{pathDirect: true, pathNAT: true, pathPrivlink: false, pathNginxTuned: false} {
		if cfg.pathSelected(p) != want {
			t.Errorf("--paths: %s selected %v, want %v", p, !want, want)
		}
	}
	for _, bad := range []string{"(", "^nat$"} {
		if _, err := parseFlags([]string{"--paths", bad}); err == nil {
			t.Errorf("--paths %q: want an error", bad)
		}
	}
}
