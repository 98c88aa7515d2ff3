package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/cli"
	"github.com/privlink/privlink/internal/testenv"
)

// TestForwardingFlag: service create and update take --forwarding; the
// table shows it; nat with the PROXY protocol is refused with its code;
// the connections table shows each zone's SNAT source.
func TestForwardingFlag(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 16205})
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append([]string{"--server", e.URL(), "--token", s.Provider.Token()}, args...))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	backend := s.ProviderHosts[0].ZoneID + "=" + s.ProviderHosts[0].IP.String()
	out, err := run("service", "create", "--vpc", s.ProviderVPC.VpcID, "--port", "16206", "--backend", backend, "--forwarding", "nat", "-o", "json")
	if err != nil || !strings.Contains(out, `"forwarding": "nat"`) {
		t.Fatalf("service create --forwarding nat: %v\n%s", err, out)
	}
	if _, err := run("service", "create", "--vpc", s.ProviderVPC.VpcID, "--port", "16207", "--backend", backend, "--forwarding", "nat", "--proxy-protocol"); err == nil ||
		!strings.Contains(err.Error(), "InvalidParameter.Forwarding.NeedsProxy") {
		t.Fatalf("nat with the PROXY protocol: %v", err)
	}
	out, err = run("service", "update", s.Service.ServiceID, "--forwarding", "auto")
	if err != nil || !strings.Contains(out, "FORWARDING") || !strings.Contains(out, "auto") {
		t.Fatalf("service update --forwarding auto: %v\n%s", err, out)
	}
	out, err = run("service", "connections", s.Service.ServiceID)
	if err != nil || !strings.Contains(out, "SNAT IPS") || !strings.Contains(out, s.Endpoint.Zones[0].SnatIP.String()) {
		t.Fatalf("service connections: %v\n%s", err, out)
	}
}
