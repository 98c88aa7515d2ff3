package agent_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/testenv"
)

// TestSGRuleRevocationClosesLiveConnections: deleting a security-group rule
// closes, within 1s, the live connections no remaining rule allows; a
// connection another rule still allows stays up.
func TestSGRuleRevocationClosesLiveConnections(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for _, h := range s.ProviderHosts {
		serveHello(t, e, h.HostID, 6001, "db")
	}
	// A second consumer host, allowed by a rule of its own as well.
	other, err := s.Consumer.CreateHost(bg, api.CreateHostRequest{VSwitchID: s.ConsumerVSwitches[0].VSwitchID, Name: "other"})
	must(t, err)
	_, err = s.Consumer.AuthorizeSecurityGroup(bg, s.SG.SecurityGroupID, api.RulesRequest{
		Rules: []api.SecurityGroupRule{scenario.AcceptTCP(6001, 6001, other.IP.String()+"/32")}})
	must(t, err)
	ep := s.WaitEndpoint(t, testenv.Active)
	addr := ep.Zones[0].IP.String() + ":6001"

	open := func(hostID string) (net.Conn, *bufio.Reader) {
		var c net.Conn
		var r *bufio.Reader
		testenv.Eventually(t, "connection from "+hostID, func() error {
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
	cut, cutR := open(s.ConsumerHost.HostID) // allowed by the VPC-wide rule only
	kept, keptR := open(other.HostID)        // allowed by both rules

	start := time.Now()
	_, err = s.Consumer.RevokeSecurityGroup(bg, s.SG.SecurityGroupID, api.RulesRequest{
		Rules: []api.SecurityGroupRule{scenario.AcceptTCP(6001, 6001, s.ConsumerVPC.CidrBlock.String())}})
	must(t, err)
	cut.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = cutR.ReadByte()
	took := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection no rule allows any more still open %s after the rule was deleted", took)
	}
	if took > time.Second {
		t.Errorf("deleting the rule closed the live connection after %s, want < 1s", took)
	}
	t.Logf("deleting the rule closed the live connection in %s (%v)", took, err)
	if err := ping(kept, keptR); err != nil {
		t.Fatalf("connection still allowed by another rule: %v", err)
	}
	if m := scrape(t, e); !strings.Contains(m, `reason="sg_revoked",zone_id="`+ep.Zones[0].ZoneID+`"} 1`) {
		t.Errorf("privlink_proxy_rejected_total{reason=\"sg_revoked\"} is not 1:\n%s", grepLines(m, "rejected_total"))
	}
	// New connections follow the rules too.
	if got, err := hello(t, e, s.ConsumerHost.HostID, addr); err == nil {
		t.Errorf("new connection from a host no rule allows was proxied: %q", got)
	}
}

// ping sends a line and reads the answer.
func ping(c net.Conn, r *bufio.Reader) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	_, err := r.ReadString('\n')
	return err
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
