//go:build linux

package agent_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/testenv"
)

// failLog keeps the node agents' logs in memory and prints them only when
// the test fails: a rare failure under load (TestNodesRevocation once in
// CI) then says what each agent did, without drowning passing runs.
type failLog struct{ testenv.LogBuffer }

// dumpOnFailure registers the printing of the logs when t has failed.
func (l *failLog) dumpOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node agents' logs:\n%s", l.String())
		}
	})
}

// nodeSuffix strips a node's namespace prefix to its lab's ("<p>n<i>" -> "<p>").
var nodeSuffix = regexp.MustCompile(`n\d+$`)

// dumpNetns logs the addresses, routes and neighbours of every namespace
// of n's lab (node namespaces and their VPC copies and hosts), to say
// where a path across nodes was missing when a test gives up on it.
func (n *labNode) dumpNetns(t *testing.T) {
	t.Helper()
	prefix := nodeSuffix.ReplaceAllString(n.NetnsPrefix, "")
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		t.Logf("dump: %v", err)
		return
	}
	var b strings.Builder
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		for _, what := range [][]string{{"-br", "addr"}, {"route"}, {"neigh"}, {"-d", "link", "show", "type", "vxlan"}} {
			out, _ := exec.Command("ip", append([]string{"-n", e.Name()}, what...)...).CombinedOutput()
			b.WriteString("## " + e.Name() + " ip " + strings.Join(what, " ") + "\n" + string(out))
		}
		out, _ := exec.Command("bridge", "-n", e.Name(), "fdb", "show", "dynamic").CombinedOutput()
		b.WriteString("## " + e.Name() + " bridge fdb\n" + string(out))
	}
	t.Logf("namespaces of the lab:\n%s", b.String())
}
