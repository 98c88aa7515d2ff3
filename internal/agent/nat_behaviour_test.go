package agent_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/knat"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/testenv"
)

// openLive opens a connection to addr from a host and checks it answers.
func openLive(t *testing.T, e *testenv.Env, hostID, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	var c net.Conn
	var r *bufio.Reader
	testenv.Eventually(t, "live connection to "+addr, func() error {
		var err error
		if c, err = dialFrom(t, e, hostID, addr); err != nil {
			return err
		}
		r = bufio.NewReader(c)
		if err = ping(c, r); err != nil {
			c.Close()
		}
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c, r
}

// cutWithin wants the live connection c closed or reset within 1 s of
// start. The kernel resets a cut connection at its next packet, so it
// keeps pinging (a client that sends nothing learns of the cut at its next
// send).
// cutWithin wants the live connection c reset within 1 s of start: it
// pings every 20 ms (300 ms to answer) and takes the time of the first
// ping that fails, which must fail with a reset (a timeout would mean the
// kernel dropped the connection's packets without telling the client).
func cutWithin(t *testing.T, what string, c net.Conn, r *bufio.Reader, start time.Time) {
	t.Helper()
	for time.Since(start) < 3*time.Second {
		sent := time.Now()
		c.SetDeadline(sent.Add(300 * time.Millisecond))
		_, err := c.Write([]byte("ping\n"))
		if err == nil {
			_, err = r.ReadString('\n')
		}
		if err != nil {
			took := sent.Sub(start)
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Errorf("%s: live connection failed with %v, want a reset", what, err)
			}
			if took > time.Second {
				t.Errorf("%s: live connection still carried data %s after the change, want < 1s", what, took)
			}
			t.Logf("%s: live connection cut %s after the change (%v)", what, took, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: live connection still carries data 3s after the change", what)
}

// refused wants a new connection to addr from a host to fail.
func refused(t *testing.T, e *testenv.Env, hostID, addr, what string) {
	t.Helper()
	if got, err := hello(t, e, hostID, addr); err == nil {
		t.Errorf("%s: a new connection to %s was forwarded: %q", what, addr, got)
	}
}

// TestNATSecurityGroups: under nat the security groups apply in the
// consumer VPC: an allowed source connects, a source no rule allows does
// not, and deleting the rule that allowed a live connection cuts it within
// 1 s while one another rule still allows stays up.
func TestNATSecurityGroups(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s, ep := natScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, NoSGRule: true})
	addr := ep.Zones[0].IP.String() + ":6001"
	other, err := s.Consumer.CreateHost(bg, api.CreateHostRequest{VSwitchID: s.ConsumerVSwitches[0].VSwitchID, Name: "other"})
	must(t, err)
	// No rule: nothing passes.
	testenv.Eventually(t, "other host up", func() error {
		ln, err := e.Driver.Sockets.ListenHost(other.HostID, mustAP("0.0.0.0:7000"))
		if err == nil {
			ln.Close()
		}
		return err
	})
	time.Sleep(300 * time.Millisecond)
	refused(t, e, s.ConsumerHost.HostID, addr, "no rule")
	_, err = s.Consumer.AuthorizeSecurityGroup(bg, s.SG.SecurityGroupID, api.RulesRequest{Rules: []api.SecurityGroupRule{
		scenario.AcceptTCP(6001, 6001, s.ConsumerHost.IP.String()+"/32"), scenario.AcceptTCP(6001, 6001, other.IP.String()+"/32")}})
	must(t, err)
	cut, cutR := openLive(t, e, s.ConsumerHost.HostID, addr)
	kept, keptR := openLive(t, e, other.HostID, addr)
	start := time.Now()
	_, err = s.Consumer.RevokeSecurityGroup(bg, s.SG.SecurityGroupID, api.RulesRequest{Rules: []api.SecurityGroupRule{
		scenario.AcceptTCP(6001, 6001, s.ConsumerHost.IP.String()+"/32")}})
	must(t, err)
	cutWithin(t, "rule deleted", cut, cutR, start)
	if err := ping(kept, keptR); err != nil {
		t.Fatalf("connection another rule allows: %v", err)
	}
	refused(t, e, s.ConsumerHost.HostID, addr, "rule deleted")
	if _, err := hello(t, e, other.HostID, addr); err != nil {
		t.Errorf("allowed host, new connection: %v", err)
	}
}

// TestNATRevocation: a Pending endpoint refuses; once accepted it serves;
// rejecting the connection cuts live connections within 1 s and refuses
// new ones.
func TestNATRevocation(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s, _ := natScenario(t, e, testenv.ScenarioOptions{})
	ep := s.WaitEndpoint(t, func(ep model.Endpoint) bool { return ep.ConnectionStatus == model.ConnPending })
	addr := ep.Zones[0].IP.String() + ":6001"
	time.Sleep(500 * time.Millisecond) // the agents have seen it
	refused(t, e, s.ConsumerHost.HostID, addr, "pending")
	_, err := s.Provider.AcceptConnection(bg, s.Service.ServiceID, ep.EndpointID)
	must(t, err)
	c, r := openLive(t, e, s.ConsumerHost.HostID, addr)
	start := time.Now()
	_, err = s.Provider.RejectConnection(bg, s.Service.ServiceID, ep.EndpointID)
	must(t, err)
	cutWithin(t, "connection rejected", c, r, start)
	refused(t, e, s.ConsumerHost.HostID, addr, "rejected")
}

// TestNATIsolation: across the kernel link, nothing but the endpoint's
// flows passes: the consumer cannot reach provider addresses or another
// port of the ENI, the provider cannot reach the consumer's host, its ENI
// or the SNAT sources.
func TestNATIsolation(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s, ep := natScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	addr := ep.Zones[0].IP.String() + ":6001"
	openLive(t, e, s.ConsumerHost.HostID, addr)
	ph := s.ProviderHosts[0]
	serveHello(t, e, ph.HostID, 7001, "provider-other-port")
	serveHello(t, e, s.ConsumerHost.HostID, 7003, "consumer")
	for _, c := range []struct{ from, to, what string }{
		{s.ConsumerHost.HostID, ph.IP.String() + ":6001", "consumer -> provider host (same CIDR)"},
		{s.ConsumerHost.HostID, ep.Zones[0].IP.String() + ":7001", "consumer -> ENI, a port the service lacks"},
		{s.ConsumerHost.HostID, "100.127.0.2:6001", "consumer -> a link address"},
		{ph.HostID, s.ConsumerHost.IP.String() + ":7003", "provider -> consumer host"},
		{ph.HostID, ep.Zones[0].SnatIP.String() + ":7003", "provider -> SNAT source"},
		{ph.HostID, ep.Zones[0].IP.String() + ":6001", "provider -> ENI"},
	} {
		refused(t, e, c.from, c.to, c.what)
	}
	_ = strings.TrimSpace
	_ = fmt.Sprint
}

// TestNATBackendFailover: with zone affinity, new connections through a
// zone's ENI go to that zone's backend; when it stops answering its health
// check, new connections go to the other zone's backend.
func TestNATBackendFailover(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s, _ := natScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, ZoneAffinity: true, Port: 6002, NoEndpoint: true})
	// natScenario's backends listen on 6001; these on the service port.
	var lnH net.Listener
	for _, h := range s.ProviderHosts {
		if h.ZoneID == "cn-hangzhou-h" {
			testenv.Eventually(t, "listen in "+h.HostID, func() (err error) {
				lnH, err = e.Driver.Sockets.ListenHost(h.HostID, mustAP("0.0.0.0:6002"))
				return err
			})
			t.Cleanup(func() { lnH.Close() })
			go func() {
				for {
					c, err := lnH.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						r := bufio.NewReader(c)
						for {
							if _, err := r.ReadString('\n'); err != nil {
								return
							}
							c.Write([]byte("db-h\n"))
						}
					}()
				}
			}()
		} else {
			serveHello(t, e, h.HostID, 6002, "db-"+h.ZoneID)
		}
	}
	var zones []api.EndpointZoneRequest
	for _, v := range s.ConsumerVSwitches {
		zones = append(zones, api.EndpointZoneRequest{ZoneID: v.ZoneID, VSwitchID: v.VSwitchID})
	}
	created, err := s.Consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceName: s.Service.Name, VpcID: s.ConsumerVPC.VpcID,
		SecurityGroupIDs: []string{s.SG.SecurityGroupID}, Zones: zones})
	must(t, err)
	s.Endpoint = created
	ep := s.WaitEndpoint(t, testenv.Active)
	addr := ep.Zones[0].IP.String() + ":6002"
	testenv.Eventually(t, "zone h backend via zone h", func() error {
		got, err := hello(t, e, s.ConsumerHost.HostID, addr)
		if err == nil && got != "db-h" {
			err = fmt.Errorf("answer %q, want db-h", got)
		}
		return err
	})
	lnH.Close()
	start := time.Now()
	testenv.Eventually(t, "failover to zone i", func() error {
		got, err := hello(t, e, s.ConsumerHost.HostID, addr)
		if err == nil && !strings.HasPrefix(got, "db-cn-hangzhou-i") {
			err = fmt.Errorf("answer %q, want db-cn-hangzhou-i", got)
		}
		return err
	})
	t.Logf("new connections failed over in %s", time.Since(start))
}

// TestNATAgentRestart: a zone agent that stops withdraws its flows (new
// connections through its ENI are refused, like a stopped proxy); started
// again it serves again, with the same SNAT source.
func TestNATAgentRestart(t *testing.T) {
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	stopI := startAgent(t, e, "cn-hangzhou-i")
	s, ep := natScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	zi := ep.Zones[1]
	addr := zi.IP.String() + ":6001"
	want := func() error {
		got, err := hello(t, e, s.ConsumerHost.HostID, addr)
		if err == nil && !strings.HasSuffix(got, " "+zi.SnatIP.String()) {
			err = fmt.Errorf("answer %q, want the source %v", got, zi.SnatIP)
		}
		return err
	}
	testenv.Eventually(t, "zone i serves", want)
	hAddr := ep.Zones[0].IP.String() + ":6001"
	testenv.Eventually(t, "zone h serves", func() error { // its agent may apply later than zone i's
		_, err := hello(t, e, s.ConsumerHost.HostID, hAddr)
		return err
	})
	stopI()
	refused(t, e, s.ConsumerHost.HostID, addr, "zone i agent stopped")
	if _, err := hello(t, e, s.ConsumerHost.HostID, hAddr); err != nil {
		t.Errorf("zone h stopped serving with zone i's agent: %v", err)
	}
	start := time.Now()
	startAgent(t, e, "cn-hangzhou-i")
	testenv.Eventually(t, "zone i serves again", want)
	t.Logf("zone i served again %s after its agent started", time.Since(start))
}

// TestNATSweepAtStart: a kernel NAT pair a previous process left between
// two VPC routers (its table and veth) is removed when an agent serving
// those VPCs starts, since no nat endpoint of the store needs it.
func TestNATSweepAtStart(t *testing.T) {
	e := testenv.Start(t, testenv.Options{AgentZones: []string{"cn-hangzhou-h"}})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	cNS, pNS := e.Prefix+"-"+s.ConsumerVPC.VpcID, e.Prefix+"-"+s.ProviderVPC.VpcID
	testenv.Eventually(t, "VPC routers made", func() error {
		for _, ns := range []string{cNS, pNS} {
			if !nsMounted(ns) {
				return fmt.Errorf("no namespace mounted at %s", ns)
			}
		}
		return nil
	})
	left, err := knat.Open(knat.Config{ID: "leftover1", ConsumerNS: "/run/netns/" + cNS, ProviderNS: "/run/netns/" + pNS,
		Link: netip.MustParsePrefix("100.127.127.248/30"), SNAT: model.SNATPool})
	must(t, err)
	_ = left // abandoned, as by a crashed process
	has := func() bool {
		out, _ := exec.Command("ip", "-n", cNS, "-o", "link").CombinedOutput()
		return strings.Contains(string(out), knat.LinkName("leftover1"))
	}
	if !has() {
		t.Fatal("the leftover veth was not made")
	}
	startAgent(t, e, "cn-hangzhou-i")
	testenv.Eventually(t, "leftover swept", func() error {
		if has() {
			return fmt.Errorf("veth %s still in %s", knat.LinkName("leftover1"), cNS)
		}
		out, _ := exec.Command("ip", "netns", "exec", pNS, "nft", "list", "tables").CombinedOutput()
		if strings.Contains(string(out), knat.TableName("leftover1")) {
			return fmt.Errorf("table still in the provider router: %s", out)
		}
		return nil
	})
}
