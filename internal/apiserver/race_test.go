package apiserver_test

import (
	"sync"
	"testing"

	"github.com/privlink/privlink/internal/apiserver"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestTwoServersRace runs two API servers on one etcd and races them on
// IPAM and on clientToken idempotency.
func TestTwoServersRace(t *testing.T) {
	e1 := startLoopback(t)
	e2 := testenv.Start(t, testenv.Options{Network: "loopback", EtcdEndpoints: []string{e1.EtcdURL()}, AgentZones: []string{}})
	c1, _ := e1.Account(t, "racer")
	c2 := client.New(e2.URL(), c1.Token)
	var vpc model.VPC
	if err := c1.Post(bg, "/v1/vpcs", apiserver.CreateVPCRequest{CidrBlock: "10.0.0.0/16"}, &vpc); err != nil {
		t.Fatal(err)
	}
	var vsw model.VSwitch
	// A /27 has 29 usable addresses; 40 racing creates must hand out each once.
	if err := c2.Post(bg, "/v1/vswitches", apiserver.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: "cn-hangzhou-h", CidrBlock: "10.0.0.0/27"}, &vsw); err != nil {
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
			var h model.Host
			err := c.Post(bg, "/v1/hosts", apiserver.CreateHostRequest{VSwitchID: vsw.VSwitchID}, &h)
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
			var v model.VPC
			if err := c.Post(bg, "/v1/vpcs", apiserver.CreateVPCRequest{CidrBlock: "172.16.0.0/16", ClientToken: "tok-1"}, &v); err != nil {
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
	var all apiserver.List[model.VPC]
	if err := c1.Get(bg, "/v1/vpcs", &all); err != nil {
		t.Fatal(err)
	}
	if len(distinct) != 1 || all.TotalCount != 2 {
		t.Errorf("clientToken race made %d distinct IDs, %d VPCs in total (want 1 and 2)", len(distinct), all.TotalCount)
	}
	// Same token with other parameters is refused.
	err := c1.Post(bg, "/v1/vpcs", apiserver.CreateVPCRequest{CidrBlock: "172.17.0.0/16", ClientToken: "tok-1"}, nil)
	wantCode(t, err, "IdempotentParameterMismatch")
}

func isCode(err error, code string) bool {
	ce, ok := err.(*client.Error)
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
	s.Consumer.Base = e2.URL()
	ep := s.WaitEndpoint(t, testenv.Active)
	if ep.EndpointDomain != s.Endpoint.EndpointDomain || len(ep.Zones) != 2 {
		t.Fatalf("after restart: %+v", ep)
	}
	if e2.Admin.Token != e.Admin.Token {
		t.Fatal("admin token changed across restart")
	}
	if err := s.Consumer.Get(bg, "/v1/vpcs/"+s.ConsumerVPC.VpcID, nil); err != nil {
		t.Fatalf("account token lost across restart: %v", err)
	}
}

// TestClientTokenAfterDelete: deleting a resource frees its clientToken.
func TestClientTokenAfterDelete(t *testing.T) {
	e := startLoopback(t)
	c, _ := e.Account(t, "tokens")
	req := apiserver.CreateVPCRequest{CidrBlock: "10.0.0.0/16", ClientToken: "again"}
	var v1, v2 model.VPC
	if err := c.Post(bg, "/v1/vpcs", req, &v1); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(bg, "/v1/vpcs/"+v1.VpcID, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Post(bg, "/v1/vpcs", req, &v2); err != nil || v2.VpcID == "" || v2.VpcID == v1.VpcID {
		t.Fatalf("token reuse after delete: %v, %s then %s", err, v1.VpcID, v2.VpcID)
	}
}
