package agent_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestNATMySQL: the real MySQL client, from a consumer host, through the
// endpoint domain of a nat service, queries privlink-sampledb on the
// provider's hosts; the database sees the zone's SNAT source as the
// client address, not proxied (no PROXY header under nat).
func TestNATMySQL(t *testing.T) {
	if _, err := exec.LookPath("mysql"); err != nil {
		t.Skip("no mysql client on this machine")
	}
	bin := filepath.Join(t.TempDir(), "privlink-sampledb")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/privlink/privlink/cmd/privlink-sampledb").CombinedOutput(); err != nil {
		t.Fatalf("build privlink-sampledb: %v\n%s", err, out)
	}
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Forwarding: model.ForwardNAT})
	for _, h := range s.ProviderHosts {
		testenv.Eventually(t, "host "+h.HostID, func() error {
			ln, err := e.Driver.Sockets.ListenHost(h.HostID, mustAP("0.0.0.0:7999"))
			if err == nil {
				ln.Close()
			}
			return err
		})
		cmd := e.Driver.Sockets.ExecCommand(context.Background(), h.HostID, []string{bin, "--listen", ":6001", "--user", "acct1:admin:accountadmin=secret"})
		must(t, cmd.Start())
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	snats := map[string]bool{}
	for _, z := range ep.Zones {
		snats[z.SnatIP.String()] = true
	}
	var out []byte
	var err error
	for i := 0; i < 50; i++ { // DNS publishes a zone once its backends pass a health check
		out, err = e.Driver.Sockets.ExecCommand(context.Background(), s.ConsumerHost.HostID, []string{"mysql", "--no-defaults", "-h", ep.EndpointDomain,
			"-P", "6001", "-u", "acct1:admin:accountadmin", "-psecret", "--skip-ssl", "-N", "-B", "-e",
			"SELECT client_addr, proxied FROM privlink.connection_info"}).CombinedOutput()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("mysql through %s: %v: %s", ep.EndpointDomain, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		t.Fatalf("connection_info: %q", out)
	}
	addr, _, _ := strings.Cut(f[0], ":")
	if !snats[addr] || f[1] != "0" {
		t.Errorf("the database saw client %s proxied %s, want one of the SNAT sources %v, not proxied", f[0], f[1], snats)
	}
	t.Logf("the database saw %s (proxied %s)", f[0], f[1])
}
