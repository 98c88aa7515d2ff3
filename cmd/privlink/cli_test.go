package main_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/testenv"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "privlink-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "privlink")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build privlink: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type cli struct {
	t      *testing.T
	server string
	token  string
	env    []string // more environment, after PRIVLINK_SERVER and PRIVLINK_TOKEN
}

// run executes the binary with -o json and decodes its output.
func (c cli) run(args ...string) map[string]any {
	c.t.Helper()
	out, errOut, err := c.exec(append(args, "-o", "json")...)
	if err != nil {
		c.t.Fatalf("privlink %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		c.t.Fatalf("privlink %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return m
}

func (c cli) exec(args ...string) ([]byte, string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "PRIVLINK_SERVER="+c.server, "PRIVLINK_TOKEN="+c.token), c.env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.Bytes(), errOut.String(), err
}

func (c cli) as(token string) cli { c.token = token; return c }

// TestCLIFlow is the README's walkthrough through the built binary.
func TestCLIFlow(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback"})
	admin := cli{t: t, server: e.URL(), token: e.Admin.Token()}
	prov := admin.run("account", "create", "--name", "provider")
	cons := admin.run("account", "create", "--name", "consumer")
	p, c := admin.as(prov["token"].(string)), admin.as(cons["token"].(string))

	pvpc := p.run("vpc", "create", "--name", "provider-vpc", "--cidr", "192.168.0.0/16")["vpcId"].(string)
	for i, z := range []string{"cn-hangzhou-h", "cn-hangzhou-i"} {
		p.run("vswitch", "create", "--vpc", pvpc, "--zone", z, "--cidr", "192.168."+string(rune('1'+i))+".0/24")
	}
	svc := p.run("service", "create", "--name", "mydb", "--vpc", pvpc, "--port", "16101",
		"--backend", "cn-hangzhou-h=192.168.1.10:16101", "--backend", "cn-hangzhou-i=192.168.2.10:16101", "--auto-accept")
	svcName := svc["serviceName"].(string)
	p.run("service", "allow", svc["serviceId"].(string), "--account", cons["accountId"].(string))

	cvpc := c.run("vpc", "create", "--name", "consumer-vpc", "--cidr", "192.168.0.0/16")["vpcId"].(string)
	vsw1 := c.run("vswitch", "create", "--vpc", cvpc, "--zone", "cn-hangzhou-h", "--cidr", "192.168.1.0/24")["vSwitchId"].(string)
	vsw2 := c.run("vswitch", "create", "--vpc", cvpc, "--zone", "cn-hangzhou-i", "--cidr", "192.168.2.0/24")["vSwitchId"].(string)
	sg := c.run("security-group", "create", "--vpc", cvpc, "--name", "db")["securityGroupId"].(string)
	c.run("security-group", "authorize", sg, "--port", "16101", "--source", "192.168.0.0/16")
	found := c.run("service", "search", svcName)["items"].([]any)
	if len(found) != 1 {
		t.Fatalf("search found %d services", len(found))
	}
	ep := c.run("endpoint", "create", "--service", svcName, "--vpc", cvpc, "--security-group", sg,
		"--zone", "cn-hangzhou-h="+vsw1, "--zone", "cn-hangzhou-i="+vsw2, "--wait")
	if ep["endpointStatus"] != "Active" {
		t.Fatalf("endpoint after --wait: %v", ep["endpointStatus"])
	}
	domain := ep["endpointDomain"].(string)
	if !strings.HasPrefix(domain, ep["endpointId"].(string)+"."+svc["serviceId"].(string)+".cn-hangzhou.privatelink.internal") {
		t.Errorf("endpoint domain %q", domain)
	}
	zones := ep["zones"].([]any)
	if len(zones) != 2 || !strings.HasPrefix(zones[1].(map[string]any)["zoneDomain"].(string), ep["endpointId"].(string)+"-cn-hangzhou-i.") {
		t.Errorf("zones %v", zones)
	}
	// Table output names the endpoint domain too.
	out, _, err := c.exec("endpoint", "get", ep["endpointId"].(string))
	if err != nil || !strings.Contains(string(out), domain) || !strings.Contains(string(out), "ENDPOINT DOMAIN") {
		t.Errorf("table output: %v\n%s", err, out)
	}
	// Bad input: exit status 1 and the API's code on stderr.
	_, errOut, err := c.exec("vpc", "create", "--cidr", "10.0.0.0/33")
	if err == nil || !strings.Contains(errOut, "InvalidParameter.CidrBlock") {
		t.Errorf("bad CIDR: err %v, stderr %q", err, errOut)
	}
	_, errOut, err = c.exec("endpoint", "create", "--zone", "nonsense")
	if err == nil || !strings.Contains(errOut, "ZONE=VSWITCH") {
		t.Errorf("bad --zone: err %v, stderr %q", err, errOut)
	}
	_, errOut, err = admin.as("").exec("vpc", "list")
	if err == nil || !strings.Contains(errOut, "no token") {
		t.Errorf("no token: err %v, stderr %q", err, errOut)
	}
}

// TestCLIRotateAdminToken: the admin rotating its own token gets the new
// one, <data-dir>/admin.token holds it, and the CLI says so.
func TestCLIRotateAdminToken(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	admin := cli{t: t, server: e.URL(), token: e.Admin.Token()}
	file := filepath.Join(e.Dir, "admin.token")
	out, errOut, err := admin.exec("account", "rotate-token", "-o", "json")
	if err != nil {
		t.Fatalf("rotate-token: %v\n%s", err, errOut)
	}
	var rot map[string]any
	if err := json.Unmarshal(out, &rot); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil || strings.TrimSpace(string(b)) != rot["token"] || rot["token"] == e.Admin.Token() {
		t.Fatalf("admin.token %q %v, want the new token %v", b, err, rot["token"])
	}
	if !strings.Contains(errOut, "rewrote "+file) {
		t.Errorf("stderr %q does not say the file was rewritten", errOut)
	}
	if me := admin.as(strings.TrimSpace(string(b))).run("account", "whoami"); me["admin"] != true {
		t.Errorf("the file's token: %v", me)
	}
}
