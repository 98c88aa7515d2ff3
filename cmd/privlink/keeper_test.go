package main_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestAgentKeeper runs zone i's agent under a socket keeper
// (--socket-keeper) and kills the agent (-9) while clients keep opening
// connections: no connection is refused, every one begun after the death
// is served (it waits in the listen queue the keeper holds until the
// keeper's next agent accepts it), the zone is not withdrawn (same lease,
// the report not rewritten); a reload (SIGHUP) hands over without one
// connection failing; an endpoint deleted while no agent runs is not
// held open; a stop of the keeper stops its agent.
func TestAgentKeeper(t *testing.T) {
	testenv.NeedRoot(t)
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	dir := t.TempDir()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	k := zoneIAgent(t, e, dir, "keeper", metricsAddr, "--socket-keeper", "--handoff-socket", filepath.Join(dir, "agent.sock"), "--drain-timeout", "2s")
	k.start()
	t.Cleanup(k.stop)
	k.waitReady()

	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for _, h := range s.ProviderHosts {
		e.Serve(t, h.HostID, 6001, func(c net.Conn) { io.Copy(c, c) })
	}
	ep := s.WaitEndpoint(t, func(ep model.Endpoint) bool {
		return ep.EndpointStatus == model.StatusActive && ep.Zones[1].ZoneStatus == model.ZoneConnected
	})
	zoneI := netip.MustParseAddrPort(ep.Zones[1].IP.String() + ":6001")
	echo := func() error { return pingOnce(e, s.ConsumerHost.HostID, zoneI) }
	testenv.Eventually(t, "zone i through the agent under its keeper", echo)
	ctx := context.Background()
	rep0 := settledReport(t, e, s, ep)
	// What the keeper holds once the agent has settled: the endpoint's and
	// the management listener, the resolver's UDP and TCP sockets in each
	// VPC with a vSwitch in the zone, and its connection to the agent.
	st, err := e.Store.ReadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vpcs := map[string]bool{}
	for _, vsw := range st.VSwitches {
		if vsw.ZoneID == "cn-hangzhou-i" {
			vpcs[vsw.VpcID] = true
		}
	}
	n0 := 3 + 2*len(vpcs)
	testenv.Eventually(t, "the keeper holds what the agent serves", func() error {
		if n := len(socketInodes(k.cmd.Process.Pid)); n != n0 {
			return fmt.Errorf("the keeper has %d sockets open, want %d", n, n0)
		}
		return nil
	})
	worker := nextChild(t, k.cmd.Process.Pid, 0)

	// Clients that wait up to 10 s for their round trip, as a real one
	// with a connect and read timeout would.
	type attempt struct {
		begun time.Time
		err   error
	}
	var mu sync.Mutex
	var attempts []attempt
	load := testenv.StartHammer(4, func() error {
		a := attempt{begun: time.Now()}
		c, err := dialPing(e, s.ConsumerHost.HostID, zoneI)
		if err == nil {
			err = c.pingWithin(10 * time.Second)
			c.Close()
		}
		a.err = err
		mu.Lock()
		attempts = append(attempts, a)
		mu.Unlock()
		return err
	})
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(worker, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	dead := waitGone(t, worker)
	next := nextChild(t, k.cmd.Process.Pid, worker)
	k.waitReady()
	// The next agent serves on the very sockets the keeper held (all but
	// the keeper's end of its connection).
	held, used := socketInodes(k.cmd.Process.Pid), socketInodes(next)
	if n := len(held) - len(slices.DeleteFunc(slices.Clone(held), func(i string) bool { return slices.Contains(used, i) })); len(held) != n0 || n != n0-1 {
		t.Errorf("the keeper holds %d sockets, %d of them used by the next agent; want %d, all but one", len(held), n, n0)
	}
	time.Sleep(500 * time.Millisecond)
	load.Stop()

	var before, after, refused int
	var firstAfter error
	for _, a := range attempts {
		if a.err != nil && errors.Is(a.err, syscall.ECONNREFUSED) {
			refused++
		}
		if a.begun.After(dead) {
			after++
			if a.err != nil && firstAfter == nil {
				firstAfter = a.err
			}
		} else if a.err != nil {
			before++ // open in the killed process: reset with it
		}
	}
	t.Logf("agent %d killed, %d took over; %d attempts, %d begun after the death, %d failed before it", worker, next, len(attempts), after, before)
	if refused > 0 || firstAfter != nil {
		t.Errorf("%d attempts refused; first failure of one begun after the death: %v\n%s", refused, firstAfter, k.tail())
	}
	if after < 4 {
		t.Errorf("only %d attempts begun after the death", after)
	}
	for _, l := range strings.Split(k.tail(), "\n") {
		if strings.Contains(l, "keeper") || strings.Contains(l, "lease") {
			t.Log(l)
		}
	}
	if !strings.Contains(k.tail(), "socket keeper: took over from a worker that died") {
		t.Errorf("the next agent did not take over:\n%s", k.tail())
	}
	rep0.unchanged(t, e, "the crash")
	if m := metrics(t, metricsAddr); !strings.Contains(m, `privlink_agent_handoffs_total{result="from_keeper"} 1`) {
		t.Error("the next agent's /metrics does not count its takeover from the keeper")
	}

	// A reload (SIGHUP to the keeper: an upgrade): the next agent takes
	// over from the running one by handoff; not one connection fails, and
	// the old agent drains and exits.
	load = testenv.StartHammer(4, echo)
	time.Sleep(300 * time.Millisecond)
	prev := next
	syscall.Kill(k.cmd.Process.Pid, syscall.SIGHUP)
	next = nextChild(t, k.cmd.Process.Pid, prev) // the replaced one drained and exited
	if err := load.Stop(); err != nil {
		t.Errorf("%d of %d connections failed across the reload (first: %v)\n%s", load.Failed.Load(), load.OK.Load()+load.Failed.Load(), err, k.tail())
	}
	if !strings.Contains(k.tail(), "handoff: took over") {
		t.Errorf("the reloaded agent did not take over by handoff:\n%s", k.tail())
	}
	rep0.unchanged(t, e, "the reload")

	waitGone(t, prev) // drained (2 s), exited
	testenv.Eventually(t, "the keeper holds the endpoint's listener, the management listener, the resolver's sockets and its connection to the agent", func() error {
		if n := len(socketInodes(k.cmd.Process.Pid)); n != n0 {
			return fmt.Errorf("the keeper has %d sockets open, want %d", n, n0)
		}
		return nil
	})
	// An endpoint deleted while no agent runs (the keeper paused so that
	// it starts none, past the lease's TTL): the next agent is granted a
	// new lease and does not serve the endpoint, and the keeper does not
	// hold its port (clients are refused, not left waiting).
	syscall.Kill(k.cmd.Process.Pid, syscall.SIGSTOP)
	syscall.Kill(next, syscall.SIGKILL)
	waitGone(t, next)
	if _, err := s.Consumer.DeleteEndpoint(ctx, ep.EndpointID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	syscall.Kill(k.cmd.Process.Pid, syscall.SIGCONT)
	prev = next
	next = nextChild(t, k.cmd.Process.Pid, prev)
	k.waitReady()
	// The keeper holds all it held but the endpoint's listener.
	testenv.Eventually(t, "the keeper let go of the deleted endpoint's listener", func() error {
		if n := len(socketInodes(k.cmd.Process.Pid)); n != n0-1 {
			return fmt.Errorf("the keeper has %d sockets open, want %d", n, n0-1)
		}
		return nil
	})
	if !strings.Contains(k.tail(), "the predecessor's lease had expired: granted a new one") {
		t.Errorf("the third agent did not find the lease expired:\n%s", k.tail())
	}

	// A stop of the keeper stops its agent: the port is closed.
	k.stop()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", next)); err == nil {
		t.Errorf("the agent %d outlived its keeper", next)
	}
}

// children are pid's child processes.
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(w); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// nextChild waits until keeper's one child is another than prev (0: any).
func nextChild(t *testing.T, keeper, prev int) int {
	t.Helper()
	var next int
	testenv.Eventually(t, "the keeper's next agent", func() error {
		pids := children(keeper)
		if len(pids) != 1 || pids[0] == prev {
			return fmt.Errorf("keeper's children %v", pids)
		}
		next = pids[0]
		return nil
	})
	return next
}

// socketInodes are the sockets pid has open ("socket:[inode]").
func socketInodes(pid int) []string {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	var out []string
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:") {
			out = append(out, l)
		}
	}
	return out
}

// waitGone waits until pid has died (a zombie or reaped) and returns when.
func waitGone(t *testing.T, pid int) time.Time {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return time.Now()
		}
		if _, rest, ok := strings.Cut(string(b), ") "); ok && strings.HasPrefix(rest, "Z") {
			return time.Now()
		}
	}
	t.Fatalf("process %d still alive", pid)
	return time.Time{}
}
