package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
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

// TestEndpointSecurityGroupCommands: attach and detach a security group,
// remove and add a zone, through the CLI.
func TestEndpointSecurityGroupCommands(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16201})
	sg2, err := s.Consumer.CreateSecurityGroup(context.Background(), api.CreateSecurityGroupRequest{VpcID: s.ConsumerVPC.VpcID})
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append([]string{"--server", e.URL(), "--token", s.Consumer.Token(), "-o", "json"}, args...))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	ep := s.Endpoint.EndpointID
	if _, err := run("endpoint", "detach-security-group", ep, s.SG.SecurityGroupID); err == nil || !strings.Contains(err.Error(), "OperationDenied.LastSecurityGroup") {
		t.Fatalf("detaching the last group: %v", err)
	}
	out, err := run("endpoint", "attach-security-group", ep, sg2.SecurityGroupID)
	if err != nil || !strings.Contains(out, sg2.SecurityGroupID) || !strings.Contains(out, s.SG.SecurityGroupID) {
		t.Fatalf("attach: %v\n%s", err, out)
	}
	out, err = run("endpoint", "detach-security-group", ep, s.SG.SecurityGroupID)
	if err != nil || strings.Contains(out, s.SG.SecurityGroupID) {
		t.Fatalf("detach: %v\n%s", err, out)
	}
	zones := e.Config().Zones
	out, err = run("endpoint", "remove-zone", ep, zones[1])
	if err != nil || strings.Contains(out, s.ConsumerVSwitches[1].VSwitchID) {
		t.Fatalf("remove-zone: %v\n%s", err, out)
	}
	out, err = run("endpoint", "add-zone", ep, zones[1]+"="+s.ConsumerVSwitches[1].VSwitchID)
	if err != nil || !strings.Contains(out, s.ConsumerVSwitches[1].VSwitchID) {
		t.Fatalf("add-zone: %v\n%s", err, out)
	}
}
