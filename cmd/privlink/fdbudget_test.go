package main_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestAgentDescriptorBudget runs zone i's agent as `privlink agent` with
// RLIMIT_NOFILE lowered to 512 and floods one endpoint with 300
// connections, more than the process could hold: the endpoint gets its
// share of the descriptor budget, the rest is reset; another endpoint
// still connects, and the agent still answers HTTP and keeps its zone
// reported through etcd.
func TestAgentDescriptorBudget(t *testing.T) {
	testenv.NeedRoot(t)
	const nofile, flood = 512, 300
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	agent := exec.Command("prlimit", append([]string{fmt.Sprintf("--nofile=%d:%d", nofile, nofile), binary,
		"agent", "--zone", "cn-hangzhou-i", "--netns-prefix", e.Prefix, "--metrics-listen", metricsAddr, "--log-level", "error"},
		e.EtcdFlags()...)...)
	agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })

	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for _, h := range s.ProviderHosts {
		e.Serve(t, h.HostID, 6001, func(c net.Conn) { io.Copy(c, c) })
	}
	zi := s.ConsumerVSwitches[1]
	b, err := s.Consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceID: s.Service.ServiceID, VpcID: s.ConsumerVPC.VpcID,
		SecurityGroupIDs: []string{s.SG.SecurityGroupID}, Zones: []api.EndpointZoneRequest{{ZoneID: zi.ZoneID, VSwitchID: zi.VSwitchID}}})
	if err != nil {
		t.Fatal(err)
	}
	zoneIUp := func(ep model.Endpoint) bool {
		z := ep.Zones[len(ep.Zones)-1]
		return ep.EndpointStatus == model.StatusActive && z.ZoneID == zi.ZoneID && z.ZoneStatus == model.ZoneConnected
	}
	a := s.WaitEndpoint(t, zoneIUp)
	addrA := netip.AddrPortFrom(a.Zones[1].IP, 6001)
	addrB := netip.AddrPortFrom(b.Zones[0].IP, 6001)

	hs := e.Driver.Sockets
	open := func(to netip.AddrPort) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(bg, 2*time.Second)
		defer cancel()
		c, err := hs.DialHost(ctx, s.ConsumerHost.HostID, to)
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintln(c, "ping")
		if _, err = bufio.NewReader(c).ReadString('\n'); err != nil {
			c.Close()
			return nil, err
		}
		c.SetDeadline(time.Time{})
		return c, nil
	}
	testenv.Eventually(t, "endpoint B through the agent", func() error {
		c, err := open(addrB)
		if err == nil {
			c.Close()
		}
		return err
	})

	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for range flood {
		if c, err := open(addrA); err == nil {
			held = append(held, c)
		}
	}
	m := metrics(t, metricsAddr) // the agent still accepts HTTP connections
	fds := gauge(t, m, `privlink_proxy_fd_budget`)
	share := fds / 2 / 4
	t.Logf("RLIMIT_NOFILE %d: budget %d descriptors, %d connections per endpoint; flood of %d: %d admitted", nofile, fds, share, flood, len(held))
	if len(held) != share {
		t.Errorf("flood on endpoint A: %d of %d connections admitted, want its share %d", len(held), flood, share)
	}
	if got := gauge(t, m, `privlink_proxy_rejected_total{endpoint_id="`+a.EndpointID+`",reason="fd_budget",zone_id="`+zi.ZoneID+`"}`); got != flood-len(held) {
		t.Errorf("rejected{reason=fd_budget} = %d, want %d", got, flood-len(held))
	}
	if c, err := open(addrB); err != nil {
		t.Errorf("endpoint B during the flood on A: %v", err)
	} else {
		c.Close()
	}
	// The agent's lease and reports still go through etcd: the zones stay up.
	time.Sleep(4 * time.Second) // longer than the lease TTL (3s)
	for _, id := range []string{a.EndpointID, b.EndpointID} {
		ep, err := s.Consumer.GetEndpoint(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		if !zoneIUp(ep) {
			t.Errorf("endpoint %s zone %s during the flood: %+v", id, zi.ZoneID, ep.Zones)
		}
	}
}

var bg = context.Background()

func metrics(t *testing.T, addr string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("agent /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// gauge reads one integer sample named exactly series from metrics text.
func gauge(t *testing.T, m, series string) int {
	t.Helper()
	v := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\d+)`).FindStringSubmatch(m)
	if v == nil {
		t.Fatalf("no %s in the agent's metrics", series)
	}
	n, _ := strconv.Atoi(v[1])
	return n
}
