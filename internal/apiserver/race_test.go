package apiserver_test

import (
	"sync"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/testenv"
)

// TestTwoServersRace runs two API servers on one etcd and races them on
// IPAM and on clientToken idempotency.
func TestTwoServersRace(t *testing.T) {
	e1 := startLoopback(t)
	e2 := testenv.Start(t, testenv.Options{Network: "loopback", EtcdEndpoints: []string{e1.EtcdURL()}, AgentZones: []string{}})
	c1, _ := e1.Account(t, "racer")
	c2 := client.New(e2.URL(), c1.Token())
	vpc, err := c1.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	// A /27 has 29 usable addresses; 40 racing creates must hand out each once.
	vsw, err := c2.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.0.0.0/27"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ips := map[string]int{}
	var full, other int
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(c *client.Client) {
			defer wg.Done()
			h, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw.VSwitchID})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ips[h.IP.String()]++
			case isCode(err, "QuotaExceeded.PrivateIpAddress"):
				full++
			default:
				other++
				t.Errorf("create host: %v", err)
			}
		}([]*client.Client{c1, c2}[i%2])
	}
	wg.Wait()
	for ip, n := range ips {
		if n > 1 {
			t.Errorf("IP %s handed out %d times", ip, n)
		}
	}
	if len(ips) != 29 || full != 11 {
		t.Errorf("got %d hosts and %d 'no free address' answers, want 29 and 11", len(ips), full)
	}

	// The same clientToken from both servers at once creates one VPC.
	ids := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(c *client.Client) {
			defer wg.Done()
			v, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "172.16.0.0/16", ClientToken: "tok-1"})
			if err != nil {
				t.Errorf("idempotent create: %v", err)
			}
			ids <- v.VpcID
		}([]*client.Client{c1, c2}[i%2])
	}
	wg.Wait()
	close(ids)
	distinct := map[string]bool{}
	for id := range ids {
		distinct[id] = true
	}
	all, err := c1.ListVPCs(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(distinct) != 1 || len(all) != 2 {
		t.Errorf("clientToken race made %d distinct IDs, %d VPCs in total (want 1 and 2)", len(distinct), len(all))
	}
	// Same token with other parameters is refused.
	_, err = c1.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "172.17.0.0/16", ClientToken: "tok-1"})
	wantCode(t, err, "IdempotentParameterMismatch")
}

func isCode(err error, code string) bool {
	ce, ok := err.(*api.Error)
	return ok && ce.Code == code
}

// TestRestartKeepsState stops the server and starts it again on the same data dir.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	e := testenv.Start(t, testenv.Options{Network: "loopback", DataDir: dir})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{Port: 16006, AutoAccept: true})
	s.WaitEndpoint(t, testenv.Active)
	e.Stop()
	e2 := testenv.Start(t, testenv.Options{Network: "loopback", DataDir: dir})
	s.Consumer = client.New(e2.URL(), s.Consumer.Token())
	ep := s.WaitEndpoint(t, testenv.Active)
	if ep.EndpointDomain != s.Endpoint.EndpointDomain || len(ep.Zones) != 2 {
		t.Fatalf("after restart: %+v", ep)
	}
	if e2.Admin.Token() != e.Admin.Token() {
		t.Fatal("admin token changed across restart")
	}
	if _, err := s.Consumer.GetVPC(bg, s.ConsumerVPC.VpcID); err != nil {
		t.Fatalf("account token lost across restart: %v", err)
	}
}

// TestClientTokenAfterDelete: deleting a resource frees its clientToken.
func TestClientTokenAfterDelete(t *testing.T) {
	e := startLoopback(t)
	c, _ := e.Account(t, "tokens")
	req := api.CreateVPCRequest{CidrBlock: "10.0.0.0/16", ClientToken: "again"}
	v1, err := c.CreateVPC(bg, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteVPC(bg, v1.VpcID); err != nil {
		t.Fatal(err)
	}
	if v2, err := c.CreateVPC(bg, req); err != nil || v2.VpcID == "" || v2.VpcID == v1.VpcID {
		t.Fatalf("token reuse after delete: %v, %s then %s", err, v1.VpcID, v2.VpcID)
	}
}
