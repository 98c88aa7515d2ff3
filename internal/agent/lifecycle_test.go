package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/testenv"
	"golang.org/x/sys/unix"
)

func nsExists(name string) bool { _, err := os.Stat("/run/netns/" + name); return err == nil }

// nsMounted: the namespace's file is there and a namespace is mounted on it
// (the agent creates the file first, then bind-mounts the namespace).
func nsMounted(name string) bool {
	var st unix.Statfs_t
	return unix.Statfs("/run/netns/"+name, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// TestResourcesMakeNamespaces: creating VPCs, vSwitches and hosts through the
// API creates their namespaces and bridges; deleting them removes them. An
// adopted namespace is used but never deleted.
func TestResourcesMakeNamespaces(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	c, _ := e.Account(t, "tenant")
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.9.0.0/16"})
	must(t, err)
	vsw, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.9.1.0/24"})
	must(t, err)
	h, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID})
	must(t, err)
	vpcNS, hostNS := e.Prefix+"-"+vpc.VpcID, e.Prefix+"-"+h.HostID
	testenv.Eventually(t, "namespaces created", func() error {
		if !nsExists(vpcNS) || !nsExists(hostNS) {
			return fmt.Errorf("vpc ns %v, host ns %v", nsExists(vpcNS), nsExists(hostNS))
		}
		return nil
	})
	out, err := exec.Command("ip", "-n", vpcNS, "-4", "addr", "show").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10.9.1.1/24") {
		t.Errorf("vSwitch gateway 10.9.1.1/24 not on a bridge in %s: %v\n%s", vpcNS, err, out)
	}
	// The VPC cannot go while it has a vSwitch; the vSwitch not while it has a host.
	if _, err := c.DeleteVPC(bg, vpc.VpcID); err == nil || !strings.Contains(err.Error(), "DependencyViolation") {
		t.Errorf("deleting a VPC with a vSwitch: %v", err)
	}
	if _, err := c.DeleteVSwitch(bg, vsw.VSwitchID); err == nil || !strings.Contains(err.Error(), "DependencyViolation") {
		t.Errorf("deleting a vSwitch with a host: %v", err)
	}
	_, err = c.DeleteHost(bg, h.HostID)
	must(t, err)
	_, err = c.DeleteVSwitch(bg, vsw.VSwitchID)
	must(t, err)
	_, err = c.DeleteVPC(bg, vpc.VpcID)
	must(t, err)
	testenv.Eventually(t, "namespaces removed", func() error {
		if nsExists(vpcNS) || nsExists(hostNS) {
			return fmt.Errorf("vpc ns %v, host ns %v still there", nsExists(vpcNS), nsExists(hostNS))
		}
		return nil
	})

	// Adoption (admin only): privlink configures an existing namespace and leaves it on delete.
	adopted := e.Prefix + "x-adopt"
	must(t, exec.Command("ip", "netns", "add", adopted).Run())
	t.Cleanup(func() { exec.Command("ip", "netns", "del", adopted).Run() })
	avpc, err := e.Admin.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.8.0.0/16", NetnsPath: "/run/netns/" + adopted})
	must(t, err)
	avsw, err := e.Admin.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: avpc.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.8.1.0/24"})
	must(t, err)
	testenv.Eventually(t, "bridge in the adopted namespace", func() error {
		out, _ := exec.Command("ip", "-n", adopted, "-4", "addr", "show").CombinedOutput()
		if !strings.Contains(string(out), "10.8.1.1/24") {
			return fmt.Errorf("no gateway in %s:\n%s", adopted, out)
		}
		return nil
	})
	_, err = e.Admin.DeleteVSwitch(bg, avsw.VSwitchID)
	must(t, err)
	_, err = e.Admin.DeleteVPC(bg, avpc.VpcID)
	must(t, err)
	testenv.Eventually(t, "bridge removed from the adopted namespace", func() error {
		out, _ := exec.Command("ip", "-n", adopted, "-4", "addr", "show").CombinedOutput()
		if strings.Contains(string(out), "10.8.1.1") {
			return fmt.Errorf("gateway still in %s", adopted)
		}
		return nil
	})
	if !nsExists(adopted) {
		t.Error("the adopted namespace was deleted")
	}
}

// scrape returns the server's /metrics text.
func scrape(t *testing.T, e *testenv.Env) string {
	resp, err := http.Get(e.MetricsURL() + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
