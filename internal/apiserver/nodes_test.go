package apiserver_test

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// nodeZones are the zones of the node tests' region (no in-process agents).
var nodeZones = []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"}

func startNodeEnv(t *testing.T) *testenv.Env {
	return testenv.Start(t, testenv.Options{Network: "loopback", Zones: nodeZones, AgentZones: []string{}})
}

// nodeUp registers a node and writes its liveness record under a fresh
// lease, as a node agent does; the returned lease ends its readiness.
func nodeUp(t *testing.T, st *store.Store, name, zone, underlay string) *store.Lease {
	t.Helper()
	reg := store.NodeRegistration{Name: name, ZoneID: zone}
	if underlay != "" {
		reg.UnderlayAddr = netip.MustParseAddr(underlay)
	}
	if _, err := st.RegisterNode(bg, reg); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	l := st.NewLease(3 * time.Second)
	if _, err := l.Ensure(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Drop)
	if err := l.Write(bg, map[string]any{st.NodeKey(name): model.NodeStatus{Name: name, Version: "test-1", Hostname: "box-" + name, VPCMTU: 1450}}); err != nil {
		t.Fatal(err)
	}
	return l
}

func nodeByName(t *testing.T, c *client.Client, name string) (api.Node, bool) {
	t.Helper()
	nodes, err := c.ListNodes(bg)
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	for _, n := range nodes {
		if n.Name == name {
			return n, true
		}
	}
	return api.Node{}, false
}

// TestVNIRace: two API servers racing 50 VPC creates (16 at a time) hand out 50 distinct
// VNIs from the first automatic one, each claimed by its VPC; after
// deletes the counter keeps growing (no VNI reused) and the deleted VPCs'
// claims are gone.
func TestVNIRace(t *testing.T) {
	e1 := startNodeEnv(t)
	e2 := testenv.Start(t, testenv.Options{Network: "loopback", Zones: nodeZones, EtcdEndpoints: []string{e1.EtcdURL()}, AgentZones: []string{}})
	c1 := e1.Admin
	c2 := client.New(e2.URL(), c1.Token())
	const n, workers = 50, 16 // 16 at a time: 50 at once timed out the store on a loaded 2-core machine
	var mu sync.Mutex
	var vpcs []api.VPC
	var wg sync.WaitGroup
	jobs := make(chan int, n)
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(c *client.Client) {
			defer wg.Done()
			for range jobs {
				v, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "192.168.0.0/16"})
				if err != nil {
					t.Errorf("create VPC: %v", err)
					continue
				}
				mu.Lock()
				vpcs = append(vpcs, v)
				mu.Unlock()
			}
		}([]*client.Client{c1, c2}[w%2])
	}
	wg.Wait()
	if len(vpcs) != n {
		t.Fatalf("%d VPCs created, want %d", len(vpcs), n)
	}
	dump, err := e1.Store.Dump(bg)
	if err != nil {
		t.Fatal(err)
	}
	seen, maxVNI := map[int]string{}, 0
	for _, v := range vpcs {
		if other, dup := seen[v.VNI]; dup {
			t.Errorf("VNI %d given to %s and %s", v.VNI, other, v.VpcID)
		}
		seen[v.VNI] = v.VpcID
		if v.VNI < model.FirstAutoVNI || v.VNI >= model.FirstAutoVNI+n {
			t.Errorf("VPC %s has VNI %d, want %d..%d", v.VpcID, v.VNI, model.FirstAutoVNI, model.FirstAutoVNI+n-1)
		}
		if got := dump[e1.Store.VNIKey(v.VNI)]; got != v.VpcID {
			t.Errorf("vni/%d holds %q, want %s", v.VNI, got, v.VpcID)
		}
		maxVNI = max(maxVNI, v.VNI)
	}
	for _, v := range vpcs[:10] {
		if _, err := c2.DeleteVPC(bg, v.VpcID); err != nil {
			t.Fatalf("delete VPC: %v", err)
		}
	}
	dump, _ = e1.Store.Dump(bg)
	for _, v := range vpcs[:10] {
		if _, ok := dump[e1.Store.VNIKey(v.VNI)]; ok {
			t.Errorf("vni/%d survived its VPC's deletion", v.VNI)
		}
	}
	for i := 0; i < 3; i++ {
		v, err := c1.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
		if err != nil {
			t.Fatal(err)
		}
		if v.VNI != maxVNI+1+i {
			t.Errorf("VNI after deletes %d, want %d (the counter never goes back)", v.VNI, maxVNI+1+i)
		}
	}
}

// TestNodeLifecycle: nodes register with the lowest free index, node list
// shows them Ready while their lease lives and NotReady (since when, once
// stamped) after it is revoked; the overlay rules and delete guards hold.
func TestNodeLifecycle(t *testing.T) {
	e := startNodeEnv(t)
	st, admin := e.Store, e.Admin
	l1 := nodeUp(t, st, "n1", "cn-hangzhou-h", "10.255.0.1")
	nodeUp(t, st, "n2", "cn-hangzhou-i", "10.255.0.2")

	n1, ok := nodeByName(t, admin, "n1")
	if !ok || n1.Status != model.NodeReady || n1.ZoneID != "cn-hangzhou-h" || n1.UnderlayAddr != "10.255.0.1" ||
		n1.Index != 1 || n1.OverlayAddr != "169.254.0.1" || n1.Version != "test-1" || n1.VPCMTU != 1450 {
		t.Fatalf("n1 listed as %+v", n1)
	}
	if n2, _ := nodeByName(t, admin, "n2"); n2.Index != 2 || n2.OverlayAddr != "169.254.0.2" {
		t.Errorf("n2 listed as %+v", n2)
	}

	// A tenant may not list nodes.
	c, _ := e.Account(t, "tenant")
	if _, err := c.ListNodes(bg); !isCode(err, "Forbidden.AdminOnly") {
		t.Errorf("tenant lists nodes: %v", err)
	}

	// Ready -> NotReady when the lease goes, at once; the placement
	// controller stamps since when, and a later stamp keeps the first.
	l1.Drop()
	if n1, _ = nodeByName(t, admin, "n1"); n1.Status != model.NodeNotReady {
		t.Errorf("after the lease: %+v, want NotReady", n1)
	}
	var first string
	testenv.Eventually(t, "n1 stamped NotReady", func() error {
		if n1, _ = nodeByName(t, admin, "n1"); n1.Status != model.NodeNotReady || n1.NotReadySince == "" {
			return fmt.Errorf("%+v", n1)
		}
		first = n1.NotReadySince
		return nil
	})
	if err := st.MarkNodeNotReady(bg, "n1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n1, _ = nodeByName(t, admin, "n1"); n1.Status != model.NodeNotReady || n1.NotReadySince != first {
		t.Errorf("after a second stamp: %+v, want NotReady since %s (the first stamp)", n1, first)
	}

	// A node without underlay address cannot join a region of several nodes, nor can another join it.
	if _, err := st.RegisterNode(bg, store.NodeRegistration{Name: "solo", ZoneID: "cn-hangzhou-h"}); !modelCode(err, "InvalidNode.NoUnderlay") {
		t.Errorf("node without underlay joins: %v", err)
	}
	for _, bad := range []string{"", "a/b", "-x", strings.Repeat("n", 64)} {
		if _, err := st.RegisterNode(bg, store.NodeRegistration{Name: bad, ZoneID: "cn-hangzhou-h"}); !modelCode(err, "InvalidParameter.NodeName") {
			t.Errorf("node name %q: %v", bad, err)
		}
	}

	// Deleting: refused while ready or holding a host; the index is freed.
	if _, err := admin.DeleteNode(bg, "n2"); !isCode(err, "InvalidNode.InUse") {
		t.Errorf("delete a ready node: %v", err)
	}
	if _, err := admin.DeleteNode(bg, "nope"); !isCode(err, "NodeNotFound") {
		t.Errorf("delete an unknown node: %v", err)
	}
	if _, err := admin.DeleteNode(bg, "n1"); err != nil {
		t.Fatalf("delete n1: %v", err)
	}
	if _, ok := nodeByName(t, admin, "n1"); ok {
		t.Error("n1 still listed after delete")
	}
	nodeUp(t, st, "n3", "cn-hangzhou-h", "10.255.0.3")
	if n3, _ := nodeByName(t, admin, "n3"); n3.Index != 1 {
		t.Errorf("n3 got index %d, want the freed 1", n3.Index)
	}
}

func modelCode(err error, code string) bool {
	me, ok := err.(*model.Error)
	return ok && me.Code == code
}

// TestHostPlacement: a host goes to the least loaded ready node of its
// vSwitch's zone (ties by name) or the node asked for, and every wrong ask
// has its own code; the host record and the node's load say where it is.
func TestHostPlacement(t *testing.T) {
	e := startNodeEnv(t)
	st, admin := e.Store, e.Admin
	nodeUp(t, st, "h1", "cn-hangzhou-h", "10.255.0.1")
	nodeUp(t, st, "h2", "cn-hangzhou-h", "10.255.0.2")
	nodeUp(t, st, "i1", "cn-hangzhou-i", "10.255.0.3")
	nodeUp(t, st, "h3", "cn-hangzhou-h", "10.255.0.4").Drop() // registered, not ready
	nodeUp(t, st, "j1", "cn-hangzhou-j", "10.255.0.5").Drop() // zone j: no ready node

	c, _ := e.Account(t, "placer")
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	vsw := map[string]api.VSwitch{}
	for i, z := range nodeZones {
		v, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: z, CidrBlock: "10.0." + strconv.Itoa(i) + ".0/24"})
		if err != nil {
			t.Fatal(err)
		}
		vsw[z] = v
	}
	var placed []string
	for i := 0; i < 4; i++ {
		h, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw["cn-hangzhou-h"].VSwitchID})
		if err != nil {
			t.Fatal(err)
		}
		placed = append(placed, h.NodeName)
		if got, _ := c.GetHost(bg, h.HostID); got.NodeName != h.NodeName {
			t.Errorf("host record says node %q, create said %q", got.NodeName, h.NodeName)
		}
	}
	if want := "h1 h2 h1 h2"; strings.Join(placed, " ") != want {
		t.Errorf("default placement %v, want %s (least loaded ready node of the zone, ties by name)", placed, want)
	}

	cases := []struct {
		name, zone, node, code string
		wantNode               string
	}{
		{"explicit node", "cn-hangzhou-h", "h2", "", "h2"},
		{"node of another zone", "cn-hangzhou-h", "i1", "InvalidNode.ZoneMismatch", ""},
		{"unknown node", "cn-hangzhou-h", "nope", "InvalidNode.NotFound", ""},
		{"node not ready", "cn-hangzhou-h", "h3", "InvalidNode.NotReady", ""},
		{"bad node name", "cn-hangzhou-h", "a/b", "InvalidParameter.NodeName", ""},
		{"no ready node in the zone", "cn-hangzhou-j", "", "Zone.NoReadyNode", ""},
		{"other zone by default", "cn-hangzhou-i", "", "", "i1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw[tc.zone].VSwitchID, NodeName: tc.node})
			if tc.code != "" {
				if !isCode(err, tc.code) {
					t.Errorf("got %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil || h.NodeName != tc.wantNode {
				t.Errorf("got node %q, %v; want %s", h.NodeName, err, tc.wantNode)
			}
		})
	}
	// Load as node list shows it: h1 2, h2 3 (2 + explicit), i1 1.
	for name, want := range map[string]int{"h1": 2, "h2": 3, "i1": 1, "h3": 0} {
		if n, _ := nodeByName(t, admin, name); n.Hosts != want {
			t.Errorf("node %s holds %d hosts, want %d", name, n.Hosts, want)
		}
	}
	// A node that holds hosts cannot change zone nor be deleted; its host's delete frees it.
	if _, err := st.RegisterNode(bg, store.NodeRegistration{Name: "i1", ZoneID: "cn-hangzhou-h", UnderlayAddr: netip.MustParseAddr("10.255.0.3")}); !modelCode(err, "InvalidNode.ZoneInUse") {
		t.Errorf("zone change of a node holding a host: %v", err)
	}
	hosts, _ := c.ListHosts(bg, client.Filter{})
	for _, h := range hosts {
		if _, err := c.DeleteHost(bg, h.HostID); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := st.Count(bg, st.KindPrefix(store.KindHostNode)); n != 0 {
		t.Errorf("%d host index keys left after deleting every host", n)
	}
	if _, err := st.RegisterNode(bg, store.NodeRegistration{Name: "i1", ZoneID: "cn-hangzhou-h", UnderlayAddr: netip.MustParseAddr("10.255.0.3")}); err != nil {
		t.Errorf("zone change of an empty node: %v", err)
	}
}

// TestPreUpgradeHostsOnDefaultNode: with no node registered hosts are
// created as before nodes existed (no nodeName), and they belong to the
// node recorded once in meta/defaultnode; that node cannot be deleted
// while it holds them.
func TestPreUpgradeHostsOnDefaultNode(t *testing.T) {
	e := startNodeEnv(t)
	st, admin := e.Store, e.Admin
	c, _ := e.Account(t, "old")
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	vsw, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.0.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID})
	if err != nil || h.NodeName != "" {
		t.Fatalf("host in a region without nodes: %+v, %v; want no nodeName", h, err)
	}
	if _, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID, NodeName: "n1"}); !isCode(err, "InvalidNode.NotFound") {
		t.Errorf("explicit node in a region without nodes: %v", err)
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	for _, try := range []string{"n1", "n2"} {
		if got, err := st.EnsureDefaultNode(ctx, try); err != nil || got != "n1" {
			t.Errorf("EnsureDefaultNode(%s) = %q, %v; want n1 (written once)", try, got, err)
		}
	}
	l := nodeUp(t, st, "n1", "cn-hangzhou-h", "")
	if n, _ := nodeByName(t, admin, "n1"); n.Hosts != 1 || n.UnderlayAddr != "" {
		t.Errorf("default node listed as %+v, want 1 host (the one from before nodes), no underlay", n)
	}
	if got := store.HostNode(&h, "n1"); got != "n1" {
		t.Errorf("HostNode = %q", got)
	}
	// New hosts now go to the registered node.
	if h2, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID}); err != nil || h2.NodeName != "n1" {
		t.Errorf("host after the node registered: %q, %v", h2.NodeName, err)
	}
	l.Drop()
	if _, err := admin.DeleteNode(bg, "n1"); !isCode(err, "InvalidNode.InUse") {
		t.Errorf("delete the default node holding hosts: %v", err)
	}
}
