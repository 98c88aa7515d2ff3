package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/testenv"
)

// TestCLIEvents: `privlink events --follow` prints events as they happen,
// `privlink events --type` lists, `privlink notification create|list`
// shows the secret once and refuses a URL outside the allow-list.
func TestCLIEvents(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", WebhookAllow: []string{"127.0.0.1/32"}})
	sc := testenv.BuildScenario(t, e, testenv.ScenarioOptions{})
	p, c := cli{t: t, server: e.URL(), token: sc.Provider.Token()}, cli{t: t, server: e.URL(), token: sc.Consumer.Token()}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	follow := exec.CommandContext(ctx, binary, "events", "--follow", "-o", "json")
	follow.Env = append(os.Environ(), "PRIVLINK_SERVER="+e.URL(), "PRIVLINK_TOKEN="+sc.Consumer.Token())
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = follow.Process.Kill(); _ = follow.Wait() }()

	p.run("service", "accept", sc.Service.ServiceID, "--endpoint", sc.Endpoint.EndpointID)
	lines := bufio.NewScanner(out)
	var seen []string
	for lines.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(lines.Bytes(), &ev); err != nil {
			t.Fatalf("follow printed %q: %v", lines.Text(), err)
		}
		seen = append(seen, ev["eventType"].(string))
		if ev["eventType"] == "Accepted" {
			break
		}
	}
	if len(seen) == 0 || seen[0] != "ConnectionRequested" {
		t.Fatalf("events --follow printed %v; want ConnectionRequested ... Accepted", seen)
	}
	if items := c.run("events", "--type", "Accepted")["items"].([]any); len(items) != 1 {
		t.Errorf("events --type Accepted: %v", items)
	}

	sub := p.run("notification", "create", "--service", sc.Service.ServiceID, "--url", "http://127.0.0.1:9/hook", "--events", "Accepted,Disconnected")
	if len(sub["secret"].(string)) != 64 {
		t.Errorf("create shows no secret: %v", sub)
	}
	listed := p.run("notification", "list")["items"].([]any)
	if len(listed) != 1 || listed[0].(map[string]any)["secret"] != nil {
		t.Errorf("list: %v; want one subscription without its secret", listed)
	}
	_, errOut, err := p.exec("notification", "create", "--service", sc.Service.ServiceID, "--url", "http://10.0.0.1/hook")
	if err == nil || !strings.Contains(errOut, "Forbidden.WebhookUrl") {
		t.Errorf("URL outside the allow-list: %v, %q", err, errOut)
	}
}
