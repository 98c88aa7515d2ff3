package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/cli"
	"github.com/privlink/privlink/internal/testenv"
)

// TestAccessKeyCommands: `access-key create -o json` prints exactly
// {"accessKeyId","accessKeySecret"}; list shows the key without its
// secret; delete removes it.
func TestAccessKeyCommands(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	acct, _ := e.Account(t, "carol")
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append([]string{"--server", e.URL(), "--token", acct.Token()}, args...))
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("privlink %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	var pair map[string]string
	out := run("access-key", "create", "-o", "json")
	if err := json.Unmarshal([]byte(out), &pair); err != nil || len(pair) != 2 || len(pair["accessKeySecret"]) != 30 || !strings.HasPrefix(pair["accessKeyId"], "PLAK") {
		t.Fatalf("create -o json printed %q (%v)", out, err)
	}
	list := run("access-key", "list", "-o", "json")
	if !strings.Contains(list, pair["accessKeyId"]) || strings.Contains(list, pair["accessKeySecret"]) {
		t.Fatalf("list: %s", list)
	}
	run("access-key", "delete", pair["accessKeyId"])
	if list := run("access-key", "list"); strings.Contains(list, pair["accessKeyId"]) {
		t.Fatalf("deleted key still listed: %s", list)
	}
}
