package cli_test

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/cli"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// TestNodeCommands: `node list` shows a registered node's zone, underlay
// address, status and load; `host create --node` places a host there and
// `host list` says where; `node delete` refuses a node holding a host.
func TestNodeCommands(t *testing.T) {
	ctx := context.Background()
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	if _, err := e.Store.RegisterNode(ctx, store.NodeRegistration{Name: "n7", ZoneID: "cn-hangzhou-h", UnderlayAddr: netip.MustParseAddr("10.255.0.7")}); err != nil {
		t.Fatal(err)
	}
	l := e.Store.NewLease(3 * time.Second)
	if _, err := l.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Drop)
	if err := l.Write(ctx, map[string]any{e.Store.NodeKey("n7"): model.NodeStatus{Name: "n7", Version: "v-test"}}); err != nil {
		t.Fatal(err)
	}
	run := func(token string, args ...string) (string, error) {
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append([]string{"--server", e.URL(), "--token", token}, args...))
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	acct, _ := e.Account(t, "dora")
	vpc, err := acct.CreateVPC(ctx, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	vsw, err := acct.CreateVSwitch(ctx, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.0.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(acct.Token(), "host", "create", "--vswitch", vsw.VSwitchID, "--node", "n7"); err != nil || !strings.Contains(out, "n7") {
		t.Fatalf("host create --node: %v\n%s", err, out)
	}
	if out, err := run(acct.Token(), "host", "create", "--vswitch", vsw.VSwitchID, "--node", "n8"); err == nil || !strings.Contains(err.Error(), "InvalidNode.NotFound") {
		t.Errorf("host create on an unknown node: %v\n%s", err, out)
	}
	out, err := run(e.Admin.Token(), "node", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("node list:\n%s", out)
	}
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != "n7 cn-hangzhou-h 10.255.0.7 Ready 0 1 v-test" {
		t.Errorf("node list row %q, want n7 cn-hangzhou-h 10.255.0.7 Ready 0 1 v-test", lines[1])
	}
	if _, err := run(acct.Token(), "node", "list"); err == nil || !strings.Contains(err.Error(), "Forbidden.AdminOnly") {
		t.Errorf("tenant node list: %v", err)
	}
	l.Drop()
	if _, err := run(e.Admin.Token(), "node", "delete", "n7"); err == nil || !strings.Contains(err.Error(), "InvalidNode.InUse") {
		t.Errorf("node delete of a node holding a host: %v", err)
	}
	if out, _ := run(e.Admin.Token(), "node", "list"); !strings.Contains(out, "NotReady") {
		t.Errorf("node list after the lease ended:\n%s", out)
	}
}
