package knat

import (
	"os/exec"
	"testing"
)

func dumpNS(t *testing.T, names ...string) {
	for _, n := range names {
		out, _ := exec.Command("ip", "netns", "exec", n, "sh", "-c", "nft list ruleset; conntrack -L; ip a; ip r").CombinedOutput()
		t.Logf("== %s\n%s", n, out)
	}
}
