package apiserver_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/apiserver"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// startControlPlane runs a server without zone agents: quota tests create
// resources only.
func startControlPlane(t *testing.T) *testenv.Env {
	return testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
}

func intp(n int) *int { return &n }

func rule(port int) model.SecurityGroupRule {
	return model.SecurityGroupRule{PortRange: fmt.Sprintf("%d/%d", port, port), SourceCidr: "0.0.0.0/0"}
}

// TestQuotaCodes fills each per-account quota through the typed client and
// checks the code of the create beyond it; lowering a quota below usage
// refuses creates and deletes nothing; another account keeps the defaults.
func TestQuotaCodes(t *testing.T) {
	e := startControlPlane(t)
	c, id := e.Account(t, "quota")
	if _, err := e.Admin.SetQuota(bg, id, api.SetQuotaRequest{Vpcs: intp(1), VSwitchesPerVpc: intp(1), Hosts: intp(1),
		SecurityGroups: intp(1), RulesPerSecurityGroup: intp(2), Services: intp(1), EndpointsPerVpc: intp(1)}); err != nil {
		t.Fatal(err)
	}
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "192.168.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	zone := server0Zone(t, c)
	vsw, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: zone, CidrBlock: "192.168.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	host, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := c.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: vpc.VpcID, Rules: []model.SecurityGroupRule{rule(1), rule(2)}})
	if err != nil {
		t.Fatal(err)
	}
	svcReq := api.CreateServiceRequest{VpcID: vpc.VpcID, Ports: []int{80}, AutoAcceptEnabled: true,
		Resources: []api.BackendSpec{{ZoneID: zone, IP: "192.168.1.200"}}}
	svc, err := c.CreateService(bg, svcReq)
	if err != nil {
		t.Fatal(err)
	}
	epReq := api.CreateEndpointRequest{ServiceID: svc.ServiceID, VpcID: vpc.VpcID, SecurityGroupIDs: []string{sg.SecurityGroupID},
		Zones: []api.EndpointZoneRequest{{ZoneID: zone, VSwitchID: vsw.VSwitchID}}}
	if _, err := c.CreateEndpoint(bg, epReq); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, code string
		create     func() error
	}{
		{"vpc", "QuotaExceeded.Vpc", func() error {
			_, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
			return err
		}},
		{"vswitch", "QuotaExceeded.VSwitch", func() error {
			_, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: zone, CidrBlock: "192.168.2.0/24"})
			return err
		}},
		{"host", "QuotaExceeded.Host", func() error {
			_, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID})
			return err
		}},
		{"security group", "QuotaExceeded.SecurityGroup", func() error {
			_, err := c.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: vpc.VpcID})
			return err
		}},
		{"rule", "QuotaExceeded.SecurityGroupRule", func() error {
			_, err := c.AuthorizeSecurityGroup(bg, sg.SecurityGroupID, api.RulesRequest{Rules: []model.SecurityGroupRule{rule(3)}})
			return err
		}},
		{"service", "QuotaExceeded.Service", func() error {
			_, err := c.CreateService(bg, svcReq)
			return err
		}},
		{"endpoint", "QuotaExceeded.Endpoint", func() error {
			_, err := c.CreateEndpoint(bg, epReq)
			return err
		}},
	}
	before := storeDump(t, e)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.create(), tc.code) })
	}
	sameDump(t, before, storeDump(t, e), "creates beyond a quota")

	q, err := c.GetQuota(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range q.Items {
		want := 1
		if it.Name == "rulesPerSecurityGroup" {
			want = 2
		}
		if it.Limit != want || it.Usage != want {
			t.Errorf("quota %s: limit %d usage %d, want %d and %d", it.Name, it.Limit, it.Usage, want, want)
		}
	}

	// Lowered below usage: nothing is deleted, creates stay refused,
	// deletes still work and free a slot only once under the limit.
	if _, err := e.Admin.SetQuota(bg, id, api.SetQuotaRequest{Hosts: intp(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetHost(bg, host.HostID); err != nil {
		t.Fatalf("lowering the quota deleted a host: %v", err)
	}
	_, err = c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID})
	wantCode(t, err, "QuotaExceeded.Host")
	if _, err := e.Admin.SetQuota(bg, id, api.SetQuotaRequest{Hosts: intp(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteHost(bg, host.HostID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID}); err != nil {
		t.Fatalf("a deleted host did not free its slot: %v", err)
	}

	// Another account has the defaults.
	other, otherID := e.Account(t, "other")
	for i := 0; i < 2; i++ {
		if _, err := other.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"}); err != nil {
			t.Fatalf("other account's VPC %d: %v", i, err)
		}
	}
	oq, err := other.GetQuota(bg, otherID)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range oq.Items {
		if it.Limit != it.Default {
			t.Errorf("other account's %s: limit %d, want the default %d", it.Name, it.Limit, it.Default)
		}
	}

	// Only the admin sets quotas; an account reads only its own.
	_, err = c.SetQuota(bg, id, api.SetQuotaRequest{Vpcs: intp(100)})
	wantCode(t, err, "Forbidden.AdminOnly")
	_, err = c.GetQuota(bg, otherID)
	wantCode(t, err, "AccountNotFound")
	_, err = e.Admin.SetQuota(bg, id, api.SetQuotaRequest{Vpcs: intp(-1)})
	wantCode(t, err, "InvalidParameter.Quota.vpcs")
	_, err = e.Admin.SetQuota(bg, id, api.SetQuotaRequest{Vpcs: intp(1001)})
	wantCode(t, err, "InvalidParameter.Quota.vpcs")
	_, err = e.Admin.SetQuota(bg, id, api.SetQuotaRequest{})
	wantCode(t, err, "InvalidParameter.Quota")
	_, err = e.Admin.SetQuota(bg, "1234567890123456", api.SetQuotaRequest{Vpcs: intp(1)})
	wantCode(t, err, "AccountNotFound")

	// The admin, trusted, has the highest limits, and cannot lower them.
	admin := mustWhoAmI(t, e.Admin).AccountID
	aq, err := e.Admin.GetQuota(bg, admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range aq.Items {
		if want, _ := model.QuotaItemNamed(it.Name); it.Limit != want.Max {
			t.Errorf("admin's %s: limit %d, want %d", it.Name, it.Limit, want.Max)
		}
	}
	_, err = e.Admin.SetQuota(bg, admin, api.SetQuotaRequest{Vpcs: intp(1)})
	wantCode(t, err, "OperationDenied.AdminAccount")
}

func server0Zone(t *testing.T, c *client.Client) string {
	t.Helper()
	reg, err := c.DescribeRegion(bg)
	if err != nil || len(reg.Zones) == 0 {
		t.Fatalf("region: %v %+v", err, reg)
	}
	return reg.Zones[0].ZoneID
}

// TestQuotaRace races creates for the last slots of an account-wide quota:
// VPCs (nothing else serializes them) and security groups spread over
// several VPCs (so their VPCs do not serialize them either). However the
// creates interleave, the account never holds more than its quota.
func TestQuotaRace(t *testing.T) {
	e := startControlPlane(t)
	c, id := e.Account(t, "racer")
	const vpcs, sgs, tries = 3, 4, 12
	if _, err := e.Admin.SetQuota(bg, id, api.SetQuotaRequest{Vpcs: intp(vpcs), SecurityGroups: intp(sgs)}); err != nil {
		t.Fatal(err)
	}
	race := func(what, code string, create func(i int) error) int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused, conflicts := 0, 0, 0
		defer func() {
			t.Logf("%d concurrent %s creates: %d created, %d %s, %d Conflict.Concurrent", tries, what, ok, refused, code, conflicts)
		}()
		for i := 0; i < tries; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := create(i)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case isCode(err, code):
					refused++
				case isCode(err, "Conflict.Concurrent"):
					conflicts++
				default:
					t.Errorf("%s %d: %v", what, i, err)
				}
			}()
		}
		wg.Wait()
		return ok
	}
	n := race("vpc", "QuotaExceeded.Vpc", func(int) error {
		_, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
		return err
	})
	got, err := c.ListVPCs(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || n > vpcs || n == 0 {
		t.Fatalf("%d concurrent VPC creates: %d succeeded, %d exist; quota %d", tries, n, len(got), vpcs)
	}
	for len(got) < vpcs { // a create that lost only a race leaves room
		v, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	n = race("security group", "QuotaExceeded.SecurityGroup", func(i int) error {
		_, err := c.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: got[i%vpcs].VpcID})
		return err
	})
	groups, err := c.ListSecurityGroups(bg, client.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != n || n > sgs || n == 0 {
		t.Fatalf("%d concurrent security group creates: %d succeeded, %d exist; quota %d", tries, n, len(groups), sgs)
	}
	q, err := c.GetQuota(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range q.Items {
		if it.Usage > it.Limit {
			t.Errorf("quota %s: usage %d above limit %d", it.Name, it.Usage, it.Limit)
		}
	}
}

// TestIndexOwned: a store written before the quotas (a VPC without its
// account index key) is indexed at start, so the VPC counts.
func TestIndexOwned(t *testing.T) {
	e := startControlPlane(t)
	c, id := e.Account(t, "old")
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := e.Store.NewTxn().Delete(e.Store.OwnedKey(id, store.KindVPC, vpc.VpcID)).Commit(bg); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if n, err := apiserver.IndexOwned(bg, e.Store); err != nil || n != 1 {
		t.Fatalf("IndexOwned = %d, %v; want 1", n, err)
	}
	if n, err := apiserver.IndexOwned(bg, e.Store); err != nil || n != 0 {
		t.Fatalf("second IndexOwned = %d, %v; want 0", n, err)
	}
	q, err := c.GetQuota(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	if q.Items[0].Name != "vpcs" || q.Items[0].Usage != 1 {
		t.Fatalf("usage after indexing: %+v", q.Items[0])
	}
}
