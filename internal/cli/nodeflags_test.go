package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/cli"
)

// TestNodeFlags: the node flags of privlink server and privlink agent are
// checked before anything starts.
func TestNodeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"server", "--data-dir", t.TempDir(), "--zone", "cn-hangzhou-h", "--no-agents", "--node", "n1"}, "replaces --agent-zones and --no-agents"},
		{[]string{"server", "--data-dir", t.TempDir(), "--node", "n1"}, "serves one zone"},
		{[]string{"server", "--data-dir", t.TempDir(), "--underlay-mtu", "1550"}, "go with --node"},
		{[]string{"server", "--data-dir", t.TempDir(), "--node", "n1", "--zone", "cn-hangzhou-h", "--underlay-addr", "10.0.0"}, "--underlay-addr \"10.0.0\""},
		{[]string{"agent", "--etcd-endpoints", "https://127.0.0.1:1", "--zone", "z", "--node", "bad/name"}, `--node "bad/name"`},
		{[]string{"agent", "--etcd-endpoints", "https://127.0.0.1:1", "--zone", "z", "--node", "n2", "--node-lease-ttl", "10ms"}, "--node-lease-ttl"},
	} {
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append(tc.args, "--network", "loopback"))
		if tc.args[0] == "server" {
			root.SetArgs(append(tc.args, "--network", "loopback", "--listen", "127.0.0.1:0"))
		}
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
