package agent_test

import (
	"fmt"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/testenv"
)

// TestVPCWithoutVSwitchesIsDeleted: a VPC whose last vSwitch went keeps
// its namespace (it may serve another zone), and deleting the VPC later
// removes it, whether the agent saw the vSwitch go or started after.
func TestVPCWithoutVSwitchesIsDeleted(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	c, _ := e.Account(t, "tenant")
	withoutVSwitch := func(what string) string {
		vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.9.0.0/16"})
		must(t, err)
		vsw, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.9.1.0/24"})
		must(t, err)
		ns := e.Prefix + "-" + vpc.VpcID
		testenv.Eventually(t, what+": VPC namespace and bridge", func() error {
			if !hasBridge(e, vpc.VpcID, vsw.VSwitchID) {
				return fmt.Errorf("no bridge of %s in %s", vsw.VSwitchID, ns)
			}
			return nil
		})
		_, err = c.DeleteVSwitch(bg, vsw.VSwitchID)
		must(t, err)
		testenv.Eventually(t, what+": bridge removed", func() error {
			if hasBridge(e, vpc.VpcID, vsw.VSwitchID) {
				return fmt.Errorf("bridge of %s still in %s", vsw.VSwitchID, ns)
			}
			return nil
		})
		if !nsExists(ns) {
			t.Fatalf("%s: the VPC's namespace went with its last vSwitch", what)
		}
		return vpc.VpcID
	}
	deleted := func(what, vpcID string) {
		_, err := c.DeleteVPC(bg, vpcID)
		must(t, err)
		testenv.Eventually(t, what+": VPC namespace removed", func() error {
			if nsExists(e.Prefix + "-" + vpcID) {
				return fmt.Errorf("%s-%s still there", e.Prefix, vpcID)
			}
			return nil
		})
	}
	deleted("seen by the running agent", withoutVSwitch("running agent"))

	vpcID := withoutVSwitch("before a restart")
	e.Stop()
	e = testenv.Start(t, testenv.Options{DataDir: e.Dir, Prefix: e.Prefix})
	c = client.New(e.URL(), c.Token())
	deleted("after a restart", vpcID)
}

func hasBridge(e *testenv.Env, vpcID, vswID string) bool {
	inv, err := e.Driver.Topology.Inventory()
	if err != nil {
		return false
	}
	for _, v := range inv.VSwitches {
		if v == (netdrv.VSwitchRef{VpcID: vpcID, VSwitchID: vswID}) {
			return true
		}
	}
	return false
}
