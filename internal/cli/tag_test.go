package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/cli"
	"github.com/privlink/privlink/internal/testenv"
)

// TestTagCommands: tag add (type from the ID), list, list by tag with
// --type, move-resource-group, remove --key and --all, and a refused
// reserved key, through the CLI.
func TestTagCommands(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16202})
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append([]string{"--server", e.URL(), "--token", s.Consumer.Token()}, args...))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	ep, vpc := s.Endpoint.EndpointID, s.ConsumerVPC.VpcID
	out, err := run("tag", "add", ep, "--tag", "env=prod", "--tag", "team=db")
	if err != nil || !strings.Contains(out, "team") || !strings.Contains(out, "endpoint") {
		t.Fatalf("tag add: %v\n%s", err, out)
	}
	if _, err := run("tag", "add", vpc, "--tag", "acs:x=1"); err == nil || !strings.Contains(err.Error(), "InvalidParameter.Tags.Key") {
		t.Fatalf("reserved key: %v", err)
	}
	if _, err := run("tag", "add", vpc, ep, "--tag", "a=b"); err == nil || !strings.Contains(err.Error(), "one type") {
		t.Fatalf("mixed types: %v", err)
	}
	out, err = run("tag", "list", "--type", "endpoint", "--tag", "env=prod", "-o", "json")
	if err != nil || !strings.Contains(out, ep) || !strings.Contains(out, `"tagValue": "db"`) {
		t.Fatalf("tag list by tag: %v\n%s", err, out)
	}
	if out, err = run("tag", "move-resource-group", ep, "--resource-group", "rg-blue"); err != nil || !strings.Contains(out, "rg-blue") {
		t.Fatalf("move-resource-group: %v\n%s", err, out)
	}
	if got, _ := s.Consumer.GetEndpoint(context.Background(), ep); got.ResourceGroupID != "rg-blue" {
		t.Fatalf("resource group %q", got.ResourceGroupID)
	}
	if out, err = run("tag", "remove", ep, "--key", "env"); err != nil || strings.Contains(out, "prod") || !strings.Contains(out, "team") {
		t.Fatalf("tag remove --key: %v\n%s", err, out)
	}
	if _, err = run("tag", "remove", ep, "--all"); err != nil {
		t.Fatal(err)
	}
	if out, err = run("tag", "list", ep); err != nil || strings.Contains(out, "team") {
		t.Fatalf("after remove --all: %v\n%s", err, out)
	}

	// Creates take --tag and --resource-group; an endpoint without --zone
	// is Active with no zone.
	out, err = run("vpc", "create", "--cidr", "10.66.0.0/16", "--tag", "env=dev", "--resource-group", "rg-blue", "-o", "json")
	if err != nil || !strings.Contains(out, `"key": "env"`) || !strings.Contains(out, `"resourceGroupId": "rg-blue"`) {
		t.Fatalf("vpc create --tag: %v\n%s", err, out)
	}
	out, err = run("endpoint", "create", "--service", s.Service.Name, "--vpc", vpc, "--security-group", s.SG.SecurityGroupID, "--tag", "app=orders", "--wait", "-o", "json")
	if err != nil || !strings.Contains(out, `"endpointStatus": "Active"`) || !strings.Contains(out, `"zones": []`) || !strings.Contains(out, `"value": "orders"`) {
		t.Fatalf("endpoint create without zones: %v\n%s", err, out)
	}
}
