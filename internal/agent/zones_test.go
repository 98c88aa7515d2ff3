package agent_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// startAgent runs a zone agent outside the server, as `privlink agent` does.
func startAgent(t *testing.T, e *testenv.Env, zone string) (stop func()) {
	_, stop = runAgent(t, e, zone)
	return stop
}

// startSyncedAgent starts a zone agent (opts adjust its config) and waits
// for its first round; stop stops it as a process exit would (listeners
// closed).
func startSyncedAgent(t *testing.T, e *testenv.Env, zone string, opts ...func(*agent.Config)) (stop func()) {
	t.Helper()
	a, stop := runAgent(t, e, zone, opts...)
	testenv.Eventually(t, zone+" agent synced", func() error {
		if !a.Ready() {
			return errors.New("not ready")
		}
		return nil
	})
	return stop
}

func runAgent(t *testing.T, e *testenv.Env, zone string, opts ...func(*agent.Config)) (*agent.Agent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(bg)
	cache := store.NewCache(e.Store, slog.Default())
	go cache.Run(ctx)
	cfg := agent.Config{Zone: zone, Store: e.Store, Cache: cache, Driver: e.Driver, Metrics: proxy.NewMetrics(nil), Logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	a := agent.New(cfg)
	go a.Run(ctx)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-a.Done()
		}
	}
	t.Cleanup(stop)
	return a, stop
}

// TestZoneFailover: stopping one zone's agent leaves the other zone serving;
// a restarted agent converges with nothing duplicated.
func TestZoneFailover(t *testing.T) {
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	stopI := startAgent(t, e, "cn-hangzhou-i")
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for i, h := range s.ProviderHosts {
		serveHello(t, e, h.HostID, 6001, fmt.Sprintf("backend-%d", i))
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	hIP, iIP := ep.Zones[0].IP.String()+":6001", ep.Zones[1].IP.String()+":6001"
	for _, a := range []string{hIP, iIP} {
		testenv.Eventually(t, "zone IP "+a, func() error { _, err := hello(t, e, s.ConsumerHost.HostID, a); return err })
	}
	stopI()
	if _, err := hello(t, e, s.ConsumerHost.HostID, iIP); err == nil {
		t.Error("stopped zone still serves")
	}
	if _, err := hello(t, e, s.ConsumerHost.HostID, hIP); err != nil {
		t.Errorf("other zone broke when zone i stopped: %v", err)
	}
	s.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.Zones[1].ZoneStatus == model.ZoneUnavailable })

	startAgent(t, e, "cn-hangzhou-i")
	testenv.Eventually(t, "restarted zone serves", func() error { _, err := hello(t, e, s.ConsumerHost.HostID, iIP); return err })
	s.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.Zones[1].ZoneStatus == model.ZoneConnected })
	// Nothing duplicated: each ENI address is on its bridge exactly once.
	out, err := exec.Command("ip", "-n", e.Prefix+"-"+s.ConsumerVPC.VpcID, "-4", "-o", "addr", "show").CombinedOutput()
	must(t, err)
	for _, z := range ep.Zones {
		if n := strings.Count(string(out), " "+z.IP.String()+"/"); n != 1 {
			t.Errorf("ENI %s appears %d times:\n%s", z.IP, n, out)
		}
	}
	ss, _ := exec.Command("ip", "netns", "exec", e.Prefix+"-"+s.ConsumerVPC.VpcID, "ss", "-Hltn").CombinedOutput()
	if n := strings.Count(string(ss), iIP); n != 1 {
		t.Errorf("listener %s appears %d times:\n%s", iIP, n, ss)
	}
}

// TestAgentReregistersAfterLeaseLoss: when the agent's lease disappears (as
// after a long etcd outage), its liveness and reports come back by themselves.
func TestAgentReregistersAfterLeaseLoss(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	s.WaitEndpoint(t, testenv.Active)
	key := e.Store.AgentKey("cn-hangzhou-i")
	lease, err := e.Store.LeaseOf(bg, key)
	if err != nil || lease == 0 {
		t.Fatalf("agent key: lease %d, %v", lease, err)
	}
	if err := e.Store.RevokeLease(bg, lease); err != nil {
		t.Fatal(err)
	}
	s.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.Zones[1].ZoneStatus != model.ZoneConnected })
	s.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.Zones[1].ZoneStatus == model.ZoneConnected })
	if now, err := e.Store.LeaseOf(bg, key); err != nil || now == 0 || now == lease {
		t.Fatalf("agent did not register with a new lease: %d, %v", now, err)
	}
}

// TestRestartPrunesDeleted: what was deleted from the store while a zone's
// agent was down is removed from the machine when it comes back.
func TestRestartPrunesDeleted(t *testing.T) {
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	stopI := startAgent(t, e, "cn-hangzhou-i")
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	h, err := s.Consumer.CreateHost(bg, api.CreateHostRequest{VSwitchID: s.ConsumerVSwitches[1].VSwitchID})
	must(t, err)
	ep := s.WaitEndpoint(t, testenv.Active)
	hostNS, vpcNS := e.Prefix+"-"+h.HostID, e.Prefix+"-"+s.ConsumerVPC.VpcID
	eniI := " " + ep.Zones[1].IP.String() + "/32"
	testenv.Eventually(t, "zone i host and ENI placed", func() error {
		out, _ := exec.Command("ip", "-n", vpcNS, "-4", "-o", "addr").CombinedOutput()
		if !nsExists(hostNS) || !strings.Contains(string(out), eniI) {
			return fmt.Errorf("host ns %v, addrs:\n%s", nsExists(hostNS), out)
		}
		return nil
	})
	stopI()
	_, err = s.Consumer.DeleteHost(bg, h.HostID)
	must(t, err)
	_, err = s.Consumer.DeleteEndpoint(bg, ep.EndpointID)
	must(t, err)
	time.Sleep(300 * time.Millisecond) // zone h's agent removes its own ENI, not zone i's
	if !nsExists(hostNS) {
		t.Fatal("zone h's agent removed zone i's host")
	}
	startAgent(t, e, "cn-hangzhou-i")
	testenv.Eventually(t, "leftovers pruned", func() error {
		out, _ := exec.Command("ip", "-n", vpcNS, "-4", "-o", "addr").CombinedOutput()
		if nsExists(hostNS) || strings.Contains(string(out), eniI) {
			return fmt.Errorf("host ns %v, addrs:\n%s", nsExists(hostNS), out)
		}
		return nil
	})
}
