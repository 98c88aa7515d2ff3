package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/apiserver"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

func nsExists(name string) bool { _, err := os.Stat("/run/netns/" + name); return err == nil }

// TestResourcesMakeNamespaces: creating VPCs, vSwitches and hosts through the
// API creates their namespaces and bridges; deleting them removes them. An
// adopted namespace is used but never deleted.
func TestResourcesMakeNamespaces(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	c, _ := e.Account(t, "tenant")
	var vpc model.VPC
	must(t, c.Post(bg, "/v1/vpcs", apiserver.CreateVPCRequest{CidrBlock: "10.9.0.0/16"}, &vpc))
	var vsw model.VSwitch
	must(t, c.Post(bg, "/v1/vswitches", apiserver.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.9.1.0/24"}, &vsw))
	var h model.Host
	must(t, c.Post(bg, "/v1/hosts", apiserver.CreateHostRequest{VSwitchID: vsw.VSwitchID}, &h))
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
	if err := c.Delete(bg, "/v1/vpcs/"+vpc.VpcID, nil); err == nil || !strings.Contains(err.Error(), "DependencyViolation") {
		t.Errorf("deleting a VPC with a vSwitch: %v", err)
	}
	if err := c.Delete(bg, "/v1/vswitches/"+vsw.VSwitchID, nil); err == nil || !strings.Contains(err.Error(), "DependencyViolation") {
		t.Errorf("deleting a vSwitch with a host: %v", err)
	}
	must(t, c.Delete(bg, "/v1/hosts/"+h.HostID, nil))
	must(t, c.Delete(bg, "/v1/vswitches/"+vsw.VSwitchID, nil))
	must(t, c.Delete(bg, "/v1/vpcs/"+vpc.VpcID, nil))
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
	var avpc model.VPC
	must(t, e.Admin.Post(bg, "/v1/vpcs", apiserver.CreateVPCRequest{CidrBlock: "10.8.0.0/16", NetnsPath: "/run/netns/" + adopted}, &avpc))
	var avsw model.VSwitch
	must(t, e.Admin.Post(bg, "/v1/vswitches", apiserver.CreateVSwitchRequest{VpcID: avpc.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.8.1.0/24"}, &avsw))
	testenv.Eventually(t, "bridge in the adopted namespace", func() error {
		out, _ := exec.Command("ip", "-n", adopted, "-4", "addr", "show").CombinedOutput()
		if !strings.Contains(string(out), "10.8.1.1/24") {
			return fmt.Errorf("no gateway in %s:\n%s", adopted, out)
		}
		return nil
	})
	must(t, e.Admin.Delete(bg, "/v1/vswitches/"+avsw.VSwitchID, nil))
	must(t, e.Admin.Delete(bg, "/v1/vpcs/"+avpc.VpcID, nil))
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
	resp, err := http.Get(e.URL() + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
