package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/testenv"
)

// monitoringDir holds the example Prometheus config, alert rules and their tests.
var monitoringDir, _ = filepath.Abs("../../docs/monitoring")

func needTool(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (scripts/install-deps.sh installs Debian's prometheus): %v", name, err)
	}
	return p
}

// TestMonitoringExamples: the documented Prometheus config and alert rules
// are valid, and the rules fire as their unit tests say.
func TestMonitoringExamples(t *testing.T) {
	promtool := needTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = monitoringDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	b, err := os.ReadFile(filepath.Join(monitoringDir, "grafana-dashboard.json"))
	if err == nil {
		err = json.Unmarshal(b, &dash)
	}
	if err != nil || len(dash.Panels) == 0 {
		t.Fatalf("grafana-dashboard.json: %v, %d panels", err, len(dash.Panels))
	}
	doc := documented(t)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range regexp.MustCompile(`privlink_[a-z_]+`).FindAllString(tg.Expr, -1) {
				if !doc[m] {
					t.Errorf("the dashboard queries %s, which docs/monitoring/README.md does not document", m)
				}
			}
		}
	}
}

// documented returns the metric names in the table of docs/monitoring/README.md.
func documented(t *testing.T) map[string]bool {
	b, err := os.ReadFile(filepath.Join(monitoringDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(privlink_[a-z_]+)`").FindAllStringSubmatch(string(b), -1) {
		names[m[1]] = true
	}
	return names
}

// TestPrometheusScrapesPrivlink runs Debian's prometheus against a live
// privlink whose endpoint carries traffic, reads the endpoint's bytes back
// through Prometheus's query API, checks that the alert rules load, and
// that every privlink_* metric served is documented.
func TestPrometheusScrapesPrivlink(t *testing.T) {
	prom := needTool(t, "prometheus")
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for _, h := range s.ProviderHosts {
		e.Serve(t, h.HostID, 6001, func(c net.Conn) { io.Copy(io.Discard, c) })
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	const sent = 1 << 20
	testenv.Eventually(t, "send 1 MiB through the endpoint", func() error {
		c, err := e.Driver.Sockets.DialHost(t.Context(), s.ConsumerHost.HostID, netip.MustParseAddrPort(ep.Zones[0].IP.String()+":6001"))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = io.Copy(c, io.LimitReader(zeros{}, sent))
		return err
	})

	metrics, err := url.Parse(e.Server.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: privlink
    static_configs: [{targets: [%q]}]
`, filepath.Join(monitoringDir, "alerts.yml"), metrics.Host)
	must(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))
	web := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+web, "--log.level=warn")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus: %s", log.String())
		}
	})

	q := fmt.Sprintf(`sum(privlink_proxy_bytes_total{job="privlink",endpoint_id=%q,direction="in"})`, ep.EndpointID)
	deadline := time.Now().Add(30 * time.Second)
	var got float64
	for time.Now().Before(deadline) {
		if got = promQuery(web, q); got >= sent {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got < sent {
		t.Fatalf("Prometheus says %s = %v, want at least %d", q, got, sent)
	}
	if up := promQuery(web, `up{job="privlink"}`); up != 1 {
		t.Errorf("up = %v", up)
	}
	resp, err := http.Get("http://" + web + "/api/v1/rules")
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"PrivlinkAgentNotSynced"`) {
		t.Errorf("Prometheus did not load the alert rules: %.300s", body)
	}

	doc := documented(t)
	for _, name := range served(t, e.Server.MetricsURL()) {
		if !doc[name] {
			t.Errorf("%s is served but not documented in docs/monitoring/README.md", name)
		}
	}
}

// promQuery returns the first value of an instant query, or -1.
func promQuery(web, q string) float64 {
	resp, err := http.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Data.Result) == 0 {
		return -1
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1
	}
	return v
}

// served lists the privlink_* metric families on a /metrics page.
func served(t *testing.T, metricsURL string) []string {
	resp, err := http.Get(metricsURL + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	var names []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "privlink_") {
			names = append(names, f[2])
		}
	}
	if len(names) == 0 {
		t.Fatal("no privlink_* metric on " + metricsURL)
	}
	return names
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
