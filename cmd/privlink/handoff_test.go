package main_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/handoff"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestAgentHandoff restarts zone i's `privlink agent` by starting its
// successor with the same --handoff-socket while clients keep opening
// connections: not one connection is refused or reset, a connection open
// across the handoff keeps working until the old process's drain ends, the
// endpoint's report is not rewritten (same lease, same revision), and the
// successor serves the zone (TCP and UDP ports) and /metrics on the same
// address. A taker
// that goes away before it is ready leaves the running agent serving.
func TestAgentHandoff(t *testing.T) {
	testenv.NeedRoot(t)
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	dir := t.TempDir()
	sock, metricsAddr := filepath.Join(dir, "agent-i.sock"), fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	newAgent := func(name string) *proc {
		return zoneIAgent(t, e, dir, name, metricsAddr, "--handoff-socket", sock, "--drain-timeout", "3s")
	}
	old := newAgent("agent-old")
	old.start()
	t.Cleanup(old.kill)
	old.waitReady()

	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, UDPPorts: []int{7}})
	for _, h := range s.ProviderHosts {
		e.Serve(t, h.HostID, 6001, func(c net.Conn) { io.Copy(c, c) })
		pc, err := e.Driver.Sockets.ListenPacketHost(h.HostID, netip.MustParseAddrPort("0.0.0.0:7"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(buf[:n], from)
			}
		}()
	}
	ep := s.WaitEndpoint(t, func(ep model.Endpoint) bool {
		return ep.EndpointStatus == model.StatusActive && ep.Zones[1].ZoneStatus == model.ZoneConnected
	})
	zoneI := netip.MustParseAddrPort(ep.Zones[1].IP.String() + ":6001")
	echo := func() error { return pingOnce(e, s.ConsumerHost.HostID, zoneI) }
	testenv.Eventually(t, "zone i through the agent", echo)
	udpEcho := func() error {
		pc, err := e.Driver.Sockets.ListenPacketHost(s.ConsumerHost.HostID, netip.MustParseAddrPort("0.0.0.0:0"))
		if err != nil {
			return err
		}
		defer pc.Close()
		if _, err := pc.WriteTo([]byte("u-ping"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(zoneI.Addr(), 7))); err != nil {
			return err
		}
		pc.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 64)
		n, _, err := pc.ReadFrom(buf)
		if err == nil && string(buf[:n]) != "u-ping" {
			err = fmt.Errorf("udp echo %q", buf[:n])
		}
		return err
	}
	testenv.Eventually(t, "zone i's UDP port through the agent", udpEcho)

	rep0 := settledReport(t, e, s, ep)

	// A taker that goes away before it is ready: the agent serves on.
	tk, err := handoff.Take(sock, 10*time.Second)
	if err != nil || tk == nil {
		t.Fatalf("take: %v %v", tk, err)
	}
	if len(tk.Sockets) < 2 || tk.Lease != rep0.lease {
		t.Errorf("offer: %d sockets, lease %x; want the listener and /metrics, lease %x", len(tk.Sockets), tk.Lease, rep0.lease)
	}
	for _, so := range tk.Sockets {
		syscall.Close(so.FD)
	}
	tk.Abort()
	if err := echo(); err != nil {
		t.Fatalf("after an aborted handoff: %v", err)
	}
	// A successor that fails after taking the sockets and lease (its
	// management address is taken): the agent serves on, its lease intact.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	failing := newAgent("agent-failing")
	failing.args = append(failing.args, "--metrics-listen", busy.Addr().String())
	failing.start()
	select {
	case <-failing.exited:
	case <-time.After(45 * time.Second):
		t.Fatalf("the failing successor did not exit:\n%s", failing.tail())
	}
	if !strings.Contains(failing.tail(), "handoff: taking over") {
		t.Fatalf("the failing successor did not take over first:\n%s", failing.tail())
	}
	time.Sleep(4 * time.Second) // past the lease TTL
	if err := echo(); err != nil {
		t.Fatalf("after a failed successor: %v", err)
	}
	if l, err := e.Store.LeaseOf(context.Background(), rep0.key); err != nil || l != rep0.lease {
		t.Fatalf("after a failed successor the report's lease is %x (%v), want %x", l, err, rep0.lease)
	}

	metricsHas := func(what string) error {
		if !strings.Contains(metrics(t, metricsAddr), what) {
			return fmt.Errorf("/metrics lacks %s", what)
		}
		return nil
	}
	// Both aborted takeovers are counted by the agent that served on.
	testenv.Eventually(t, "the agent counts its resumed handoffs", func() error {
		return metricsHas(`privlink_agent_handoffs_total{result="resumed"} 2`)
	})

	// Connections opened all through the handoff.
	held, err := dialPing(e, s.ConsumerHost.HostID, zoneI)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	load := testenv.StartHammer(4, echo)
	time.Sleep(300 * time.Millisecond)

	next := newAgent("agent-new")
	t0 := time.Now()
	next.start()
	t.Cleanup(next.kill)
	select {
	case <-old.exited:
		t.Fatalf("the old agent exited before its successor was ready:\n%s", old.tail())
	case <-time.After(100 * time.Millisecond):
	}
	// /readyz answers from the old process until it releases: wait for
	// the successor's word instead.
	for !strings.Contains(next.tail(), "handoff: took over") {
		select {
		case <-next.exited:
			t.Fatalf("the successor exited:\n%s", next.tail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(t0) > 45*time.Second {
			t.Fatalf("no takeover in 45s:\n%s", next.tail())
		}
	}
	released := time.Since(t0)
	next.waitReady()
	if err := held.ping(); err != nil {
		t.Errorf("a connection open across the handoff broke at once: %v", err)
	}
	select {
	case <-old.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("the old agent did not exit after handing over:\n%s", old.tail())
	}
	old.cmd = nil
	drained := time.Since(t0)
	time.Sleep(300 * time.Millisecond)
	firstErr := load.Stop()
	t.Logf("successor ready in %s, old exited after %s; %d connections ok, %d failed", released, drained, load.OK.Load(), load.Failed.Load())
	if firstErr != nil {
		t.Errorf("%d connections failed during the handoff (first: %v)\nold:\n%s\nnew:\n%s", load.Failed.Load(), firstErr, old.tail(), next.tail())
	}
	if load.OK.Load() < 20 {
		t.Errorf("only %d connections during the handoff", load.OK.Load())
	}
	if held.ping() == nil {
		t.Error("the old agent's connection outlived its drain timeout")
	}
	if !strings.Contains(old.tail(), "handoff: released to the successor") {
		t.Errorf("old agent's log lacks the release:\n%s", old.tail())
	}

	// The successor serves (TCP and UDP): same report (lease, revision),
	// its own /metrics.
	if err := echo(); err != nil {
		t.Fatalf("after the handoff: %v", err)
	}
	if err := udpEcho(); err != nil {
		t.Errorf("UDP after the handoff: %v", err)
	}
	rep0.unchanged(t, e, "the handoff")
	for _, m := range []string{`privlink_proxy_connections_total{endpoint_id="` + ep.EndpointID, `privlink_agent_handoffs_total{result="took_over"} 1`} {
		if err := metricsHas(m); err != nil {
			t.Errorf("the successor's %v", err)
		}
	}

	// A plain stop still withdraws the zone.
	next.stop()
	if echo() == nil {
		t.Error("zone i still serves after its agent stopped")
	}
}
