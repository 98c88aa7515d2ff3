package main_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/invariant"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/scenario"
)

// envInt reads a positive integer from the environment, or def.
func envInt(t testing.TB, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	return def
}

// seed is PRIVLINK_SEED or a fresh one; it is logged, and again on failure.
func seed(t testing.TB) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("PRIVLINK_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("PRIVLINK_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (rerun with PRIVLINK_SEED=%d)", s, s)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: rerun with PRIVLINK_SEED=%d", s, s)
		}
	})
	return s
}

// TestCrashConverges kills (-9) the server, the standalone agent or both at
// a random moment while a change (endpoints, hosts, VPCs created or
// deleted) is being applied, restarts them, and checks after each round
// that the machine converges to the store: every namespace, bridge and ENI
// the store calls for exists, nothing else with the prefix does, and every
// Connected endpoint carries traffic in both zones. The store's own
// invariants must hold at once. At the end everything is deleted through
// the API and the machine must be clean. PRIVLINK_CRASH_ROUNDS (default 6)
// sets the number of rounds, PRIVLINK_SEED the random sequence.
func TestCrashConverges(t *testing.T) {
	rounds := envInt(t, "PRIVLINK_CRASH_ROUNDS", 6)
	rng := rand.New(rand.NewPCG(seed(t), 0))
	m := newMachine(t)
	ctx := context.Background()
	b, err := scenario.NewBuilder(ctx, m.admin(), "provider", "consumer")
	if err != nil {
		t.Fatal(err)
	}
	sc := scenario.New(b, scenario.Canonical(scenario.Options{Zones: m.zones, AutoAccept: true}))
	if err := sc.Build(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range sc.ProviderNet.Hosts {
		serveEcho(t, m.drv.Sockets, h.HostID, 6001)
	}
	m.converge(ctx, "initial build", true)

	start := time.Now()
	for round := 1; round <= rounds; round++ {
		what := m.change(ctx, rng, sc)
		// Mostly within the first 80ms, where the API call and the
		// agents' apply happen; sometimes later.
		delay := time.Duration(rng.IntN(80)) * time.Millisecond
		if rng.IntN(3) == 0 {
			delay = time.Duration(rng.IntN(600)) * time.Millisecond
		}
		victims := [][]*proc{{m.server}, {m.agent}, {m.server, m.agent}}[rng.IntN(3)]
		time.Sleep(delay)
		var names []string
		for _, p := range victims {
			p.kill()
			names = append(names, p.name)
		}
		<-what.done
		// Sometimes kill again while restarting (prune and first apply).
		if rng.IntN(3) == 0 {
			m.restart(victims)
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			for _, p := range victims {
				p.kill()
			}
			names = append(names, "again during restart")
		}
		m.restart(victims)
		desc := fmt.Sprintf("round %d: %s, killed %s after %s", round, what.name, strings.Join(names, "+"), delay)
		t0 := time.Now()
		m.converge(ctx, desc, true)
		t.Logf("%s: converged %s after the restart", desc, time.Since(t0).Round(time.Millisecond))
	}
	t.Logf("%d rounds of kill -9 and restart converged in %s", rounds, time.Since(start).Round(time.Millisecond))

	m.teardown(ctx, sc)
	m.agent.stop()
	m.server.stop()
	if left := netdrv.Leftovers(m.prefix); len(left) > 0 {
		t.Errorf("after deleting everything through the API: %v", left)
	}
}

// restart starts the killed processes again, the server first (the agent
// needs its etcd).
func (m *machine) restart(victims []*proc) {
	for _, p := range []*proc{m.server, m.agent} {
		if p.cmd == nil {
			p.start()
			p.waitReady()
		}
	}
}

// converge waits until the machine matches the store (and, if
// needServing, some endpoint carries traffic); the store's own invariants
// must hold at the first read.
func (m *machine) converge(ctx context.Context, when string, needServing bool) invariant.Want {
	m.t.Helper()
	first := true
	var bad []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err := m.openStore(ctx)
		if err != nil {
			m.t.Fatalf("%s: %v", when, err)
		}
		snap, err := invariant.Read(ctx, st)
		st.Close()
		if err != nil {
			m.t.Fatalf("%s: %v", when, err)
		}
		if v := snap.Check(); first && len(v) > 0 {
			m.t.Fatalf("%s: store invariants broken:\n  %s", when, strings.Join(v, "\n  "))
		}
		first = false
		w := invariant.WantOf(snap.State, m.zones)
		inv, err := m.drv.Topology.Inventory()
		if err != nil {
			m.t.Fatalf("%s: %v", when, err)
		}
		bad = append(w.Diff(inv), w.Traffic(ctx, m.drv.Sockets)...)
		if len(bad) == 0 && (len(w.Serving) > 0 || !needServing) {
			return w
		}
		if len(w.Serving) == 0 && needServing {
			bad = append(bad, "no endpoint serves")
		}
		time.Sleep(200 * time.Millisecond)
	}
	m.t.Fatalf("%s: the machine did not converge to the store in 30s:\n  %s\n%s", when, strings.Join(bad, "\n  "), m.dump())
	return invariant.Want{}
}

// dump shows the links and addresses of every namespace of the prefix
// (for a failure's message).
func (m *machine) dump() string {
	var b strings.Builder
	for _, p := range netdrv.Leftovers(m.prefix) {
		name := strings.TrimPrefix(p, "/run/netns/")
		if name == p {
			continue
		}
		for _, args := range [][]string{{"-o", "link"}, {"-br", "addr"}, {"route"}} {
			out, _ := exec.Command("ip", append([]string{"-n", name}, args...)...).CombinedOutput()
			fmt.Fprintf(&b, "ip -n %s %s:\n%s", name, strings.Join(args, " "), out)
		}
	}
	return b.String()
}

type change struct {
	name string
	done chan struct{}
}

// change starts one random change through the API; done closes when its
// calls returned (they fail once the server is killed).
func (m *machine) change(ctx context.Context, rng *rand.Rand, sc *scenario.Scenario) change {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c := sc.Consumer
	eps, _ := c.ListEndpoints(ctx, clientFilter(sc.ConsumerNet.VPC.VpcID))
	vpcs, _ := c.ListVPCs(ctx)
	hosts, _ := c.ListHosts(ctx, clientFilter(sc.ConsumerNet.VPC.VpcID))
	type op struct {
		name string
		run  func() error
	}
	ops := []op{
		{"create an endpoint", func() error {
			_, err := sc.Connect(ctx, sc.ConsumerNet, sc.Service, scenario.EndpointSpec{})
			return err
		}},
		{"create a VPC with a vSwitch and a host", func() error {
			zone := rng.IntN(len(m.zones))
			_, err := sc.Network(ctx, scenario.ConsumerSide, scenario.NetworkSpec{Name: "extra", CIDR: fmt.Sprintf("10.%d.0.0/16", rng.IntN(250)),
				VSwitches: []scenario.VSwitchSpec{{ZoneID: m.zones[zone], Subnet: 1}}, Hosts: []scenario.HostSpec{{Name: "x"}}})
			return err
		}},
		{"create a host", func() error {
			_, err := c.CreateHost(ctx, hostRequest(sc.ConsumerNet.VSwitches[rng.IntN(len(sc.ConsumerNet.VSwitches))].VSwitchID))
			return err
		}},
	}
	for _, ep := range eps {
		if ep.EndpointID != sc.Endpoint.EndpointID && ep.EndpointStatus != "Deleting" {
			ops = append(ops, op{"delete endpoint " + ep.EndpointID, func() error { _, err := c.DeleteEndpoint(ctx, ep.EndpointID); return err }})
			break
		}
	}
	for _, h := range hosts {
		if h.HostID != sc.ConsumerNet.Hosts[0].HostID {
			ops = append(ops, op{"delete host " + h.HostID, func() error { _, err := c.DeleteHost(ctx, h.HostID); return err }})
			break
		}
	}
	for _, v := range vpcs {
		if v.VpcID != sc.ConsumerNet.VPC.VpcID {
			ops = append(ops, op{"delete VPC " + v.VpcID + " with its host and vSwitch", func() error { return deleteVPC(ctx, c, v.VpcID) }})
			break
		}
	}
	o := ops[rng.IntN(len(ops))]
	ch := change{name: o.name, done: make(chan struct{})}
	go func() {
		defer close(ch.done)
		defer cancel()
		if err := o.run(); err != nil {
			m.t.Logf("%s: %v", o.name, err)
		}
	}()
	return ch
}

// teardown deletes everything through the API and waits until the agents
// removed it all from the machine.
func (m *machine) teardown(ctx context.Context, sc *scenario.Scenario) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, p := sc.Consumer, sc.Provider
	eps, err := c.ListEndpoints(ctx, clientFilter(""))
	must(m.t, err)
	for _, ep := range eps {
		if _, err := c.DeleteEndpoint(ctx, ep.EndpointID); err != nil {
			m.t.Errorf("delete endpoint %s: %v", ep.EndpointID, err)
		}
	}
	waitFor(m.t, "endpoints gone", func() error {
		eps, err := c.ListEndpoints(ctx, clientFilter(""))
		if err == nil && len(eps) > 0 {
			err = fmt.Errorf("%d endpoints left", len(eps))
		}
		return err
	})
	_, err = p.DeleteService(ctx, sc.Service.ServiceID)
	must(m.t, err)
	for _, acct := range []*client.Client{c, p} {
		vpcs, err := acct.ListVPCs(ctx)
		must(m.t, err)
		for _, v := range vpcs {
			if err := deleteVPC(ctx, acct, v.VpcID); err != nil {
				m.t.Errorf("delete VPC %s: %v", v.VpcID, err)
			}
		}
	}
	waitFor(m.t, "the agents remove everything", func() error {
		inv, err := m.drv.Topology.Inventory()
		if err == nil && (len(inv.VPCs)+len(inv.Hosts)+len(inv.VSwitches)+len(inv.ENIs) > 0) {
			err = fmt.Errorf("left: %+v", inv)
		}
		return err
	})
}

func clientFilter(vpcID string) client.Filter { return client.Filter{VpcID: vpcID} }

func hostRequest(vswID string) api.CreateHostRequest { return api.CreateHostRequest{VSwitchID: vswID} }

// deleteVPC deletes a VPC's hosts, security groups and vSwitches, then it.
func deleteVPC(ctx context.Context, c *client.Client, vpcID string) error {
	f := clientFilter(vpcID)
	hosts, err := c.ListHosts(ctx, f)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if _, err := c.DeleteHost(ctx, h.HostID); err != nil {
			return err
		}
	}
	sgs, err := c.ListSecurityGroups(ctx, f)
	if err != nil {
		return err
	}
	for _, g := range sgs {
		if _, err := c.DeleteSecurityGroup(ctx, g.SecurityGroupID); err != nil {
			return err
		}
	}
	vsws, err := c.ListVSwitches(ctx, f)
	if err != nil {
		return err
	}
	for _, v := range vsws {
		if _, err := c.DeleteVSwitch(ctx, v.VSwitchID); err != nil {
			return err
		}
	}
	_, err = c.DeleteVPC(ctx, vpcID)
	return err
}

// serveEcho runs an echo server in a host (once its agent made it) until
// the test ends.
func serveEcho(t testing.TB, sk netdrv.Sockets, hostID string, port uint16) {
	t.Helper()
	var ln net.Listener
	waitFor(t, "listen in host "+hostID, func() (err error) {
		ln, err = sk.ListenHost(hostID, netip.AddrPortFrom(netip.IPv4Unspecified(), port))
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) { defer c.Close(); io.Copy(c, c) }(c)
		}
	}()
}

func waitFor(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
