package main_test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestStandaloneAgent runs zone i's agent as `privlink agent` against the
// server's etcd: it serves its zone, exports metrics, keeps serving while
// etcd is gone (static stability), and its zone is withdrawn when it stops.
func TestStandaloneAgent(t *testing.T) {
	testenv.NeedRoot(t)
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	agent := exec.Command(binary, append([]string{"agent", "--zone", "cn-hangzhou-i", "--netns-prefix", e.Prefix,
		"--metrics-listen", metricsAddr, "--log-level", "debug"}, e.EtcdFlags()...)...)
	var agentLog testenv.LogBuffer
	agent.Stderr = &agentLog
	agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })

	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for _, h := range s.ProviderHosts {
		e.Serve(t, h.HostID, 6001, func(c net.Conn) { io.Copy(c, c) })
	}
	ep := s.WaitEndpoint(t, func(ep model.Endpoint) bool {
		return ep.EndpointStatus == model.StatusActive && ep.Zones[1].ZoneStatus == model.ZoneConnected
	})
	zoneI := netip.MustParseAddrPort(ep.Zones[1].IP.String() + ":6001")
	echo := func() error { return pingOnce(e, s.ConsumerHost.HostID, zoneI) }
	testenv.Eventually(t, "zone i through the standalone agent", echo)

	// Metrics of the agent process name the endpoint.
	body := metrics(t, metricsAddr)
	for _, m := range []string{`privlink_proxy_connections_total{endpoint_id="` + ep.EndpointID, "privlink_proxy_bytes_total", "privlink_agent_synced 1"} {
		if !strings.Contains(body, m) {
			t.Errorf("agent /metrics lacks %s", m)
		}
	}

	// Static stability: with the control plane (and its etcd) gone, the agent keeps serving.
	t0 := time.Now()
	e.Stop()
	t.Logf("server stopped in %s", time.Since(t0))
	time.Sleep(500 * time.Millisecond)
	if err := echo(); err != nil {
		t.Errorf("agent stopped serving when etcd went away: %v", err)
	}
	// ... and its resolver still answers the endpoint domain in the VPC.
	if _, err := exec.LookPath("dig"); err == nil {
		// The agent's resolver takes over the VPC's DNS address once the
		// server's is gone: allow it a few seconds.
		var out []byte
		var err error
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			out, err = exec.Command("ip", "netns", "exec", e.Prefix+"-"+s.ConsumerHost.HostID, "dig", "+noall", "+comments", "+answer", "+time=1", ep.EndpointDomain).CombinedOutput()
			if err == nil && strings.Contains(string(out), ep.Zones[1].IP.String()) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || !strings.Contains(string(out), ep.Zones[1].IP.String()) {
			t.Errorf("agent's resolver with etcd gone: %v %s\nagent's log:\n%s", err, out, agentLog.String())
		}
	}
	// Stopping the agent closes its listeners.
	stopAt := time.Now()
	agent.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- agent.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit on SIGTERM")
	}
	t.Logf("agent exited %s after SIGTERM", time.Since(stopAt))
	if echo() == nil {
		t.Error("zone i still serves after its agent exited")
	}
}
