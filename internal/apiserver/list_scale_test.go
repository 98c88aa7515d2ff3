package apiserver_test

import (
	"fmt"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestQuotaMaxima: each quota takes its documented maximum (docs/security.md)
// and refuses one more with InvalidParameter.Quota.<name>; endpointsPerVpc
// goes to 20,000, so 10,000 endpoints fit in one VPC. The defaults stay
// Alibaba's.
func TestQuotaMaxima(t *testing.T) {
	e := startControlPlane(t)
	_, id := e.Account(t, "maxima")
	for _, tc := range []struct {
		name     string
		def, max int
	}{
		{"vpcs", 10, 1000},
		{"vSwitchesPerVpc", 150, 1000},
		{"hosts", 100, 10000},
		{"securityGroups", 100, 1000},
		{"rulesPerSecurityGroup", 200, 1000},
		{"services", 20, 1000},
		{"endpointsPerVpc", 50, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it, ok := model.QuotaItemNamed(tc.name)
			if !ok || it.Def != tc.def || it.Max != tc.max {
				t.Fatalf("item %+v, want default %d max %d", it, tc.def, tc.max)
			}
			var req api.SetQuotaRequest
			req.Set(tc.name, tc.max)
			q, err := e.Admin.SetQuota(bg, id, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range q.Items {
				if u.Name == tc.name && (u.Limit != tc.max || u.Default != tc.def) {
					t.Fatalf("%s: limit %d default %d after setting %d", tc.name, u.Limit, u.Default, tc.max)
				}
			}
			req.Set(tc.name, tc.max+1)
			_, err = e.Admin.SetQuota(bg, id, req)
			wantCode(t, err, "InvalidParameter.Quota."+tc.name)
		})
	}
}

// TestVPCBeyondThousandEndpoints: a VPC whose quota the admin raised above
// the old maximum (1,000) holds that many endpoints: with 1,001 in it (one
// created, 1,000 seeded) and a quota of 1,002, one more create succeeds,
// the next is refused with QuotaExceeded.Endpoint, and the VPC's list
// pages through all 1,002.
func TestVPCBeyondThousandEndpoints(t *testing.T) {
	e := startControlPlane(t)
	c, tmpl, req := seedWorld(t, e, 1002)
	seedEndpoints(t, e, tmpl, 1000)
	ep, err := c.CreateEndpoint(bg, req)
	if err != nil {
		t.Fatalf("endpoint 1,002: %v", err)
	}
	if ep.Zones[0].IP == tmpl.Zones[0].IP {
		t.Fatalf("endpoint 1,002 got the first endpoint's address %s", ep.Zones[0].IP)
	}
	_, err = c.CreateEndpoint(bg, req)
	wantCode(t, err, "QuotaExceeded.Endpoint")
	got := walk(t, c, "/v1/endpoints", url.Values{"vpcId": {tmpl.VpcID}}, 100, 1002, func(ep model.Endpoint) string { return ep.EndpointID })
	if len(got) != 1002 {
		t.Fatalf("listed %d endpoints of the VPC, want 1002", len(got))
	}
}

// BenchmarkListEndpoints times a full listing (every page of 100, as the
// client does) of 1,000 and 5,000 endpoints of one consumer, unfiltered,
// by VPC and by service, each with a ready zone report (seeded), and
// reports ms per listing:
//
//	go test ./internal/apiserver -run '^$' -bench ListEndpoints -benchtime 3x
func BenchmarkListEndpoints(b *testing.B) {
	e := testenv.Start(b, testenv.Options{Network: "loopback", AgentZones: []string{}})
	c, tmpl, _ := seedWorld(b, e, 1000) // seeding bypasses the quota
	have := 1
	for _, n := range []int{1000, 5000} {
		seedEndpoints(b, e, tmpl, n-have)
		have = n
		settle(b, e)
		for _, f := range []struct {
			name string
			f    client.Filter
		}{{"all", client.Filter{}}, {"vpc", client.Filter{VpcID: tmpl.VpcID}}, {"service", client.Filter{ServiceID: tmpl.ServiceID}}} {
			b.Run(fmt.Sprintf("%d/%s", n, f.name), func(b *testing.B) {
				var per time.Duration
				runs := 0
				for b.Loop() {
					t0 := time.Now()
					eps, err := c.ListEndpoints(bg, f.f)
					per += time.Since(t0)
					runs++
					if err != nil || len(eps) != n {
						b.Fatalf("listed %d of %d: %v", len(eps), n, err)
					}
				}
				b.ReportMetric(float64(per.Milliseconds())/float64(runs), "ms/list")
			})
		}
	}
}

// TestIPAMBlocks: addresses come lowest free first, block by block: in a
// vSwitch whose first two /24 blocks are taken (claims written straight to
// the store), a new endpoint gets the first address of the third block and
// a host the next; an address released through the API is handed out
// again first; a chosen address is refused while taken and given once
// its claim is gone.
func TestIPAMBlocks(t *testing.T) {
	e := startControlPlane(t)
	c, tmpl, req := seedWorld(t, e, 100)
	vsw := tmpl.Zones[0].VSwitchID
	if got := tmpl.Zones[0].IP.String(); got != "10.0.0.2" {
		t.Fatalf("first endpoint at %s, want 10.0.0.2", got)
	}
	var addrs []netip.Addr
	for ip := netip.MustParseAddr("10.0.0.3"); ip.Less(netip.MustParseAddr("10.0.2.0")); ip = ip.Next() {
		addrs = append(addrs, ip)
	}
	for len(addrs) > 0 {
		n := min(len(addrs), 100)
		txn := e.Store.NewTxn()
		for _, ip := range addrs[:n] {
			txn.Claim(e.Store.IPAMKey(vsw, ip), "eni-seeded")
		}
		if ok, err := txn.Commit(bg); err != nil || !ok {
			t.Fatalf("seed claims: %v %v", ok, err)
		}
		addrs = addrs[n:]
	}
	create := func(ip string) (model.Endpoint, error) {
		r := req
		r.Zones = []api.EndpointZoneRequest{{ZoneID: req.Zones[0].ZoneID, VSwitchID: vsw, IP: ip}}
		return c.CreateEndpoint(bg, r)
	}
	at := func(ip string) model.Endpoint {
		t.Helper()
		ep, err := create("")
		if err != nil {
			t.Fatal(err)
		}
		if got := ep.Zones[0].IP.String(); got != ip {
			t.Fatalf("endpoint at %s, want %s", got, ip)
		}
		return ep
	}
	ep1 := at("10.0.2.0")
	at("10.0.2.1")
	host, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw})
	if err != nil || host.IP.String() != "10.0.2.2" {
		t.Fatalf("host: %+v %v, want 10.0.2.2", host.IP, err)
	}
	if _, err := c.DeleteEndpoint(bg, ep1.EndpointID); err != nil {
		t.Fatal(err)
	}
	at("10.0.2.0")
	at("10.0.2.3")

	// A chosen address: refused while claimed, given once the claim is gone.
	_, err = create("10.0.0.77")
	wantCode(t, err, "InvalidIpAddress.AlreadyUsed")
	if ok, err := e.Store.NewTxn().Delete(e.Store.IPAMKey(vsw, netip.MustParseAddr("10.0.0.77"))).Commit(bg); err != nil || !ok {
		t.Fatalf("free 10.0.0.77: %v %v", ok, err)
	}
	ep, err := create("10.0.0.77")
	if err != nil || ep.Zones[0].IP.String() != "10.0.0.77" {
		t.Fatalf("chosen 10.0.0.77: %+v %v", ep.Zones, err)
	}
	_, err = create("10.0.2.1")
	wantCode(t, err, "InvalidIpAddress.AlreadyUsed")
}

// settle waits (at most a minute) until the store's revision holds still
// for 2 s: the server's controllers and event log have caught up with
// what was seeded, so the timings measure the lists, not that work.
func settle(b *testing.B, e *testenv.Env) {
	last := int64(-1)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		rev, err := e.Store.Revision(bg)
		if err != nil {
			b.Fatal(err)
		}
		if rev == last {
			return
		}
		last = rev
	}
}
