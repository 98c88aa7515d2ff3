package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/cli"
	"github.com/privlink/privlink/internal/testenv"
)

// TestDescriptionFlags: vpc create and endpoint create take --description;
// a too long one is refused with its code.
func TestDescriptionFlags(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16204})
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append([]string{"--server", e.URL(), "--token", s.Consumer.Token()}, args...))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	out, err := run("vpc", "create", "--cidr", "10.67.0.0/16", "--description", "staging net", "-o", "json")
	if err != nil || !strings.Contains(out, `"description": "staging net"`) {
		t.Fatalf("vpc create --description: %v\n%s", err, out)
	}
	out, err = run("endpoint", "create", "--service", s.Service.Name, "--vpc", s.ConsumerVPC.VpcID, "--security-group", s.SG.SecurityGroupID,
		"--description", "orders db", "-o", "json")
	if err != nil || !strings.Contains(out, `"endpointDescription": "orders db"`) {
		t.Fatalf("endpoint create --description: %v\n%s", err, out)
	}
	if _, err := run("vpc", "create", "--cidr", "10.68.0.0/16", "--description", strings.Repeat("d", 257)); err == nil || !strings.Contains(err.Error(), "InvalidParameter.Description") {
		t.Fatalf("too long: %v", err)
	}
}
