//go:build linux

package demo_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/demo"
	"github.com/privlink/privlink/internal/lab"
	"github.com/privlink/privlink/internal/testenv"
)

// TestDemoNodes runs `privlink demo --nodes 4 -o json` (bounded to 4
// minutes): the table says where each piece lives (the vendor's instances
// on n1 and n3, the customer's host on n2, each endpoint IP on a node of
// its zone, all four nodes Ready), the mysql CLI's query through the
// endpoint domain returned the rows and the vendor saw the endpoint, and
// the lab left no namespace, /etc/netns entry, claim file or process.
func TestDemoNodes(t *testing.T) {
	testenv.NeedRoot(t)
	if _, err := exec.LookPath("mysql"); err != nil {
		t.Skip("needs Debian's mariadb-client (scripts/install-deps.sh installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "privlink"), "demo", "--nodes", "4", "-o", "json")
	var out, narration bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &narration
	if err := cmd.Run(); err != nil {
		t.Fatalf("privlink demo --nodes 4: %v\n%s", err, narration.String())
	}
	var sum demo.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
	}
	checkSummary(t, &sum)
	if sum.Client != "mysql CLI" {
		t.Errorf("client %q, want the mysql CLI", sum.Client)
	}
	if !strings.HasPrefix(sum.Lab, "pll") || len(sum.Nodes) != 4 {
		t.Fatalf("lab %q, nodes %+v", sum.Lab, sum.Nodes)
	}
	zones := map[string]string{}
	holds := map[string]string{}
	for _, n := range sum.Nodes {
		zones[n.Name], holds[n.Name] = n.Zone, strings.Join(n.Pieces, "; ")
		if n.Status != "Ready" || n.Underlay != "10.255.0."+n.Name[1:] {
			t.Errorf("node %+v", n)
		}
	}
	h, i := sum.ZoneIDs[0], sum.ZoneIDs[1]
	for node, want := range map[string]string{"n1": "vendor instance db-" + h, "n3": "vendor instance db-" + i, "n2": "customer ECS host ecs-app"} {
		if !strings.Contains(holds[node], want) {
			t.Errorf("%s holds %q, want %q", node, holds[node], want)
		}
	}
	if zones["n1"] != h || zones["n2"] != h || zones["n3"] != i || zones["n4"] != i {
		t.Errorf("zones %v", zones)
	}
	for _, z := range sum.ZoneIDs {
		eni := "endpoint IP " + sum.ZoneIPs[z] + " (" + z + ")"
		var on []string
		for node, hs := range holds {
			if strings.Contains(hs, eni) {
				on = append(on, node)
			}
		}
		if len(on) != 1 || zones[on[0]] != z {
			t.Errorf("%s on nodes %v (zones %v), want one node of zone %s", eni, on, zones, z)
		}
	}
	// The printed table: a header and one line per node.
	for _, re := range []string{`NODE +ZONE +UNDERLAY +STATUS +RUNS +HOSTS +ENIS +HOLDS`,
		`n1 +` + h + ` +10\.255\.0\.1 +Ready +etcd\+api\+agent +1 +1 +vendor instance`,
		`n2 +` + h + ` +10\.255\.0\.2 +Ready +etcd\+api\+agent +1 +0 +customer ECS host`,
		`n4 +` + i + ` +10\.255\.0\.4 +Ready +agent +0 +0 +-`,
		`\| 3 \| ram \| 16`, `lab ` + sum.Lab + ` closed`} {
		if !regexp.MustCompile(re).MatchString(narration.String()) {
			t.Errorf("narration lacks %q:\n%s", re, narration.String())
		}
	}
	checkNothingLeft(t, sum.Lab)
}

// TestDemoNodesInterrupted: Ctrl-C (SIGINT) while `privlink demo --nodes 4
// --keep` runs ends it with everything cleaned up.
func TestDemoNodesInterrupted(t *testing.T) {
	testenv.NeedRoot(t)
	if _, err := exec.LookPath("mysql"); err != nil {
		t.Skip("needs Debian's mariadb-client (scripts/install-deps.sh installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "privlink"), "demo", "--nodes", "4", "--keep")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen []string
	prefix := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		seen = append(seen, line)
		if m := regexp.MustCompile(`^  lab (pll[0-9a-f]+):`).FindStringSubmatch(line); m != nil {
			prefix = m[1]
		}
		if strings.Contains(line, "Everything is still running") {
			break
		}
	}
	if prefix == "" || !strings.Contains(strings.Join(seen, "\n"), "Everything is still running") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("demo --keep did not get to the end (lab %q):\n%s\n%s", prefix, strings.Join(seen, "\n"), errOut.String())
	}
	if len(lab.Leftovers(prefix)) == 0 {
		t.Fatalf("lab %s has no namespaces while the demo runs", prefix)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		seen = append(seen, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("demo after Ctrl-C: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(strings.Join(seen, "\n"), "lab "+prefix+" closed") {
		t.Errorf("no closing line:\n%s", strings.Join(seen, "\n"))
	}
	checkNothingLeft(t, prefix)
}

// checkNothingLeft: no namespace, /etc/netns entry or claim file of the lab,
// and no process running a binary this test built.
func checkNothingLeft(t *testing.T, prefix string) {
	t.Helper()
	if left := lab.Leftovers(prefix); len(left) > 0 {
		t.Errorf("lab %s left %v", prefix, left)
	}
	if _, err := os.Stat(filepath.Join(lab.OwnerDir, prefix)); err == nil {
		t.Errorf("lab %s left its owner file", prefix)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, p := range procs {
		if exe, err := os.Readlink(p); err == nil && strings.HasPrefix(exe, binDir+"/") {
			t.Errorf("process %s still runs %s", filepath.Dir(p), exe)
		}
	}
}

// TestDemoNodesRefused: fewer than 4 machines is refused with a message
// naming the flag, before anything is made.
func TestDemoNodesRefused(t *testing.T) {
	out, err := exec.Command(filepath.Join(binDir, "privlink"), "demo", "--nodes", "2").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--nodes 2") || !strings.Contains(string(out), "at least 4") {
		t.Fatalf("demo --nodes 2: %v\n%s", err, out)
	}
}
