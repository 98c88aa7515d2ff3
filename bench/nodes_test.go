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
