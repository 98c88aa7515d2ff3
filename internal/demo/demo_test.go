package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/demo"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "privlink-demo-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	out, err := exec.Command("go", "build", "-o", dir+"/", "github.com/privlink/privlink/cmd/...").CombinedOutput()
	if err != nil {
		panic("build binaries: " + err.Error() + "\n" + string(out))
	}
	os.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestDemoTwice runs `privlink demo -o json` and then the demo again in
// process: the second run proves the first left nothing behind.
func TestDemoTwice(t *testing.T) {
	testenv.NeedRoot(t)
	cmd := exec.Command(filepath.Join(binDir, "privlink"), "demo", "-o", "json")
	var out, narration bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &narration
	if err := cmd.Run(); err != nil {
		t.Fatalf("privlink demo: %v\n%s", err, narration.String())
	}
	var sum demo.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out.String())
	}
	checkSummary(t, &sum)
	for _, step := range []string{"Connect > third-party tools > PrivateLink", "Service name", "Endpoint domain", "Done:"} {
		if !strings.Contains(narration.String(), step) {
			t.Errorf("narration lacks %q", step)
		}
	}
	if left := leftovers(); len(left) > 0 {
		t.Fatalf("first demo left namespaces: %v", left)
	}
	var again bytes.Buffer
	sum2, err := demo.Run(context.Background(), demo.Options{Out: &again})
	if err != nil {
		t.Fatalf("second demo: %v\n%s", err, again.String())
	}
	checkSummary(t, sum2)
	if left := leftovers(); len(left) > 0 {
		t.Fatalf("second demo left namespaces: %v", left)
	}
}

func checkSummary(t *testing.T, s *demo.Summary) {
	t.Helper()
	if s.RegionID != "cn-hangzhou" || len(s.ZoneIDs) != 2 || !strings.HasPrefix(s.ServiceName, "com.privlink.cn-hangzhou.epsrv-") {
		t.Errorf("panel: %+v", s)
	}
	if !strings.HasPrefix(s.EndpointDomain, s.EndpointID+"."+s.ServiceID+".cn-hangzhou.privatelink.internal") || len(s.ZoneDomains) != 2 {
		t.Errorf("domains: %s %v", s.EndpointDomain, s.ZoneDomains)
	}
	if len(s.Query) != 4 || strings.Join(s.Query[0], ",") != "id,item,qty" || strings.Join(s.Query[3], ",") != "3,ram,16" {
		t.Errorf("query results: %v", s.Query)
	}
	if len(s.ProviderSaw) != 2 || s.ProviderSaw[1][2] != s.EndpointID || s.ProviderSaw[1][3] != s.ServiceID {
		t.Errorf("provider saw: %v", s.ProviderSaw)
	}
	if s.Client == "" {
		t.Errorf("network %q client %q", s.Network, s.Client)
	}
}

func leftovers() []string {
	var out []string
	for _, dir := range []string{"/run/netns", "/etc/netns"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "pldemo") {
				out = append(out, e.Name())
			}
		}
	}
	// Only this test's binaries: other packages' tests run sampledb too.
	procs, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, p := range procs {
		if exe, err := os.Readlink(p); err == nil && exe == filepath.Join(binDir, "privlink-sampledb") {
			out = append(out, "privlink-sampledb process "+filepath.Base(filepath.Dir(p)))
		}
	}
	return out
}

// TestMySQLCLILoginForms: Debian's mysql client connects through an endpoint
// by its domain name with every MatrixOne login separator.
func TestMySQLCLILoginForms(t *testing.T) {
	testenv.NeedRoot(t)
	if _, err := exec.LookPath("mysql"); err != nil {
		t.Skip("needs Debian's mariadb-client (scripts/install-deps.sh installs it)")
	}
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, ProxyProtocol: true, ZoneAffinity: true})
	for _, h := range s.ProviderHosts {
		startSampleDB(t, e, h)
	}
	ep := s.WaitEndpoint(t, func(ep model.Endpoint) bool {
		return ep.EndpointStatus == model.StatusActive && ep.Zones[0].ZoneStatus == model.ZoneConnected && ep.Zones[1].ZoneStatus == model.ZoneConnected
	})
	for _, login := range []string{"acct1:admin:accountadmin", "acct1#admin#accountadmin", "acct1%3Aadmin%3Aaccountadmin"} {
		t.Run(login, func(t *testing.T) {
			var out []byte
			var err error
			for i := 0; i < 50; i++ { // DNS publishes a zone once its backends pass a health check
				out, err = e.Driver.Sockets.ExecCommand(context.Background(), s.ConsumerHost.HostID, []string{"mysql", "--no-defaults", "-h", ep.EndpointDomain,
					"-P", "6001", "-u", login, "-psecret", "--skip-ssl", "-N", "-B", "-e", "SELECT endpoint_id FROM privlink.connection_info"}).CombinedOutput()
				if err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil || strings.TrimSpace(string(out)) != ep.EndpointID {
				t.Fatalf("mysql -u %s: %v: %s", login, err, out)
			}
		})
	}
	out, err := e.Driver.Sockets.ExecCommand(context.Background(), s.ConsumerHost.HostID, []string{"mysql", "--no-defaults", "-h", ep.EndpointDomain,
		"-P", "6001", "-u", "acct1:admin:accountadmin", "-pwrong", "--skip-ssl", "-e", "SELECT 1"}).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "1045") {
		t.Errorf("wrong password: %v %s", err, out)
	}
}

func startSampleDB(t *testing.T, e *testenv.Env, h model.Host) {
	t.Helper()
	bin := filepath.Join(binDir, "privlink-sampledb")
	deadline := time.Now().Add(10 * time.Second)
	for !e.Driver.Sockets.HasHost(h.HostID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd := e.Driver.Sockets.ExecCommand(context.Background(), h.HostID, []string{bin, "--listen", ":6001", "--user", "acct1:admin:accountadmin=secret"})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// TestDemoLoopback plays the scenario with the loopback driver, as a user
// without root gets it.
func TestDemoLoopback(t *testing.T) {
	var out bytes.Buffer
	sum, err := demo.Run(context.Background(), demo.Options{Out: &out, Network: "loopback"})
	if err != nil {
		t.Fatalf("loopback demo: %v\n%s", err, out.String())
	}
	if sum.Network != "loopback" || !strings.Contains(out.String(), "NOTICE") || !strings.HasPrefix(sum.Client, "built-in") {
		t.Errorf("network %q client %q, narration:\n%s", sum.Network, sum.Client, out.String())
	}
	if len(sum.ProviderSaw) != 2 || sum.ProviderSaw[1][2] != sum.EndpointID {
		t.Errorf("provider saw %v", sum.ProviderSaw)
	}
}
