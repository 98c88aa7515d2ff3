package agent_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/knat"
	"github.com/privlink/privlink/internal/testenv"
)

// keepNAT makes an agent leave its kernel NAT flows in place at shutdown
// (as the server's agents do).
func keepNAT(c *agent.Config) { c.KeepKernelNAT = true }

// TestNATRestartKeepsFlows: an agent with KeepKernelNAT that stops (a
// process restart) leaves its kernel NAT flows forwarding: a live
// connection keeps echoing and new connections are served while no agent
// runs; the next agent adopts the flows without reprogramming them (the
// rule handles of the pair's tables stay the same) and owns them: a
// rejection then cuts the live connection within 1 s.
func TestNATRestartKeepsFlows(t *testing.T) {
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	stopI := startSyncedAgent(t, e, "cn-hangzhou-i", keepNAT)
	s, ep := natScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	host := s.ConsumerHost.HostID
	addr := ep.Zones[1].IP.String() + ":6001"
	c, r := openLive(t, e, host, addr)
	cNS := e.Prefix + "-" + s.ConsumerVPC.VpcID
	table := knat.TableName(agent.PairID(s.ConsumerVPC.VpcID, s.ProviderVPC.VpcID))
	handles := func() string {
		t.Helper()
		out, err := exec.Command("ip", "netns", "exec", cNS, "nft", "-a", "list", "table", "ip", table).CombinedOutput()
		if err != nil {
			t.Fatalf("list %s: %v\n%s", table, err, out)
		}
		// The handles of zone i's chains and counters and of their rules
		// (zone h's agent runs on: its flows are not compared).
		var hs []string
		in := false
		for _, l := range strings.Split(string(out), "\n") {
			l = strings.TrimSpace(l)
			if (strings.HasPrefix(l, "chain ") || strings.HasPrefix(l, "counter ")) && strings.Contains(l, ":cn-hangzhou-i") {
				in = true
			}
			if in && strings.Contains(l, "# handle") {
				hs = append(hs, l)
			}
			if l == "}" {
				in = false
			}
		}
		return strings.Join(hs, "\n")
	}
	before := handles()
	if !strings.Contains(before, ep.EndpointID) {
		t.Fatalf("no flow of %s in %s:\n%s", ep.EndpointID, table, before)
	}
	stopI()
	if err := ping(c, r); err != nil {
		t.Fatalf("live connection with zone i's agent stopped: %v", err)
	}
	if got, err := hello(t, e, host, addr); err != nil {
		t.Fatalf("new connection with zone i's agent stopped: %v", err)
	} else if !strings.HasPrefix(got, "db-") {
		t.Fatalf("answer %q", got)
	}
	start := time.Now()
	startSyncedAgent(t, e, "cn-hangzhou-i", keepNAT)
	t.Logf("zone i's agent synced %v after its start", time.Since(start))
	if after := handles(); after != before {
		t.Errorf("the restarted agent reprogrammed the flows it adopted:\nbefore\n%s\nafter\n%s", before, after)
	}
	if err := ping(c, r); err != nil {
		t.Fatalf("live connection after the restart: %v", err)
	}
	start = time.Now()
	_, err := s.Provider.RejectConnection(bg, s.Service.ServiceID, ep.EndpointID)
	must(t, err)
	cutWithin(t, "rejected after the restart", c, r, start)
	refused(t, e, host, addr, "rejected after the restart")
}
