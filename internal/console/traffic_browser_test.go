package console_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/console"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/testenv"
)

// trafficWorld is a world whose agents write traffic reports every second
// (instead of every minute), with an echo backend on the host network, a
// service on it, and a consumer endpoint with a host in its VPC.
type trafficWorld struct {
	*world
	svc  model.EndpointService
	ep   model.Endpoint
	host model.Host
	port uint16
}

func startTrafficWorld(t *testing.T) *trafficWorld {
	t.Helper()
	e := testenv.Start(t, testenv.Options{Network: "loopback", Console: console.New,
		Server: func(c *server.Config) { c.TrafficReportEvery = time.Second }})
	w := &world{env: e, base: e.URL(), zones: e.Config().Zones, provider: e.Admin}
	who, err := e.Admin.WhoAmI(bg)
	must(t, err)
	w.providerID = who.AccountID
	w.consumer, w.consumerID = e.Account(t, "consumer")

	ln, err := net.Listen("tcp", "127.0.0.1:0") // the echo backend, for every zone
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	tw := &trafficWorld{world: w, port: uint16(ln.Addr().(*net.TCPAddr).Port)}
	var backends []api.BackendSpec
	for _, z := range w.zones {
		backends = append(backends, api.BackendSpec{ZoneID: z, IP: "127.0.0.1", Port: int(tw.port)})
	}
	tw.svc, err = w.provider.CreateService(bg, api.CreateServiceRequest{Description: "orders database", Ports: []int{int(tw.port)},
		Resources: backends, AutoAcceptEnabled: true, AllowedAccounts: []string{w.consumerID}})
	must(t, err)
	vpc, vsws := w.consumerNet(t, "10.40.0.0/16")
	g, err := w.consumer.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: vpc.VpcID, Name: "sg-app",
		Rules: []model.SecurityGroupRule{{Protocol: "tcp", PortRange: fmt.Sprintf("%d/%d", tw.port, tw.port), SourceCidr: vpc.CidrBlock.String(), Policy: "accept", Priority: 1}}})
	must(t, err)
	tw.ep, err = w.consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceName: tw.svc.Name, VpcID: vpc.VpcID,
		SecurityGroupIDs: []string{g.SecurityGroupID}, Zones: []api.EndpointZoneRequest{
			{ZoneID: vsws[0].ZoneID, VSwitchID: vsws[0].VSwitchID}, {ZoneID: vsws[1].ZoneID, VSwitchID: vsws[1].VSwitchID}}})
	must(t, err)
	tw.host, err = w.consumer.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsws[0].VSwitchID, IP: "10.40.1.50"})
	must(t, err)
	ctx, cancel := context.WithTimeout(bg, 15*time.Second)
	defer cancel()
	tw.ep, err = w.consumer.WaitEndpoint(ctx, tw.ep.EndpointID, func(ep model.Endpoint) bool {
		return ep.EndpointStatus == model.StatusActive && ep.Zones[0].ZoneStatus == model.ZoneConnected
	}, nil)
	must(t, err)
	return tw
}

// load opens n connections from the consumer's host through the
// endpoint's first zone, echoes size bytes on each, and keeps hold of them
// open (closed when the test ends).
func (tw *trafficWorld) load(t *testing.T, n, size, hold int) {
	t.Helper()
	addr := netip.AddrPortFrom(tw.ep.Zones[0].IP, tw.port)
	msg := strings.Repeat("x", size)
	for i := range n {
		var c net.Conn
		testenv.Eventually(t, "dial the endpoint", func() (err error) {
			ctx, cancel := context.WithTimeout(bg, 2*time.Second)
			defer cancel()
			c, err = tw.env.Driver.Sockets.DialHost(ctx, tw.host.HostID, addr)
			return err
		})
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := io.WriteString(c, msg)
		must(t, err)
		_, err = io.ReadFull(c, make([]byte, size))
		must(t, err)
		if i < hold {
			t.Cleanup(func() { c.Close() })
		} else {
			c.Close()
		}
	}
}

// rejected makes n connections the security group refuses: from 127.0.0.1,
// outside the consumer VPC's CIDR.
func (tw *trafficWorld) rejected(t *testing.T, n int) {
	t.Helper()
	b := tw.ep.Zones[0].IP.As4()
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, b[1], b[2], b[3]}), tw.port)
	for range n {
		c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
		if err != nil {
			continue // refused outright also counts on the proxy's side
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.Read(make([]byte, 1)) // the proxy resets it
		c.Close()
	}
}

// chartTotal is the data-total of a chart on the page (-1: no such chart).
func chartTotal(t *testing.T, ctx context.Context, id string) float64 {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](fmt.Sprintf(
		`(function(){var e=document.getElementById(%q);return e?Number(e.getAttribute('data-total')):-1})()`, id)))
	if err != nil {
		t.Fatalf("read chart %s: %v (page: %s)", id, err, pageInfo(ctx))
	}
	return v
}

func waitChart(t *testing.T, ctx context.Context, id string, atLeast float64, timeout time.Duration) float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	got := 0.0
	for time.Now().Before(deadline) {
		if got = chartTotal(t, ctx, id); got >= atLeast {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("chart %s shows a total of %v, want at least %v after %s (page: %s)", id, got, atLeast, timeout, pageInfo(ctx))
	return got
}

// shot saves a screenshot as a test artifact (testdata/artifacts, as
// TestBrowser does) and logs where.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	screenshot(t, ctx, name)
	p, _ := filepath.Abs(filepath.Join("testdata", "artifacts", name+".png"))
	if _, err := os.Stat(p); err == nil {
		t.Logf("screenshot: %s", p)
	}
}

// TestBrowserTraffic drives the endpoint and service pages in chromium with
// a real load through an endpoint: the charts show it, update by
// themselves when more comes, the provider's page lists the endpoint with
// its traffic and each backend's last check and latency per zone, and the
// events of the resource are on the page.
func TestBrowserTraffic(t *testing.T) {
	tw := startTrafficWorld(t)
	b := startBrowser(t, tw.base)
	const conns, size = 30, 32 << 10
	tw.load(t, conns, size, 2)
	tw.rejected(t, 3)

	t.Run("consumer endpoint page", func(t *testing.T) {
		ctx := b.tab(t, tw.consumer.Token())
		do(t, ctx, chromedp.Navigate(tw.base+"/console/endpoints/"+tw.ep.EndpointID), chromedp.WaitVisible(chromedp.ID("live")))
		// Reports are written every second here; the page polls every 5 s.
		got := waitChart(t, ctx, "ep-hour-new", conns/60.0-0.001, 20*time.Second)
		if bytes := waitChart(t, ctx, "ep-hour-bytes", 2*conns*size/60.0-1, 10*time.Second); bytes <= 0 {
			t.Errorf("bytes chart total %v", bytes)
		}
		waitChart(t, ctx, "ep-hour-active", 2, 10*time.Second)
		waitChart(t, ctx, "ep-hour-rejected", 3, 10*time.Second)
		if n := text(t, ctx, "#traffic-zones tbody tr:first-child td:nth-child(3)"); n != fmt.Sprint(conns) {
			t.Errorf("zone table: %s new connections in the first zone, want %d", n, conns)
		}
		if ev := text(t, ctx, "#events"); !strings.Contains(ev, "EndpointActive") || !strings.Contains(ev, "Accepted") {
			t.Errorf("events on the endpoint page: %q", ev)
		}
		shot(t, ctx, "traffic-endpoint-hour")
		// Live update: more traffic shows up without a reload.
		tw.load(t, 10, 1024, 0)
		waitChart(t, ctx, "ep-hour-new", got+10/60.0-0.001, 20*time.Second)
		shot(t, ctx, "traffic-endpoint-hour-live")
		do(t, ctx, chromedp.Click(chromedp.CSS(`a[href$="?window=day#live"]`)), chromedp.WaitVisible(chromedp.ID("ep-day-new")))
		waitChart(t, ctx, "ep-day-new", (conns+10)/600.0-0.001, 10*time.Second)
		shot(t, ctx, "traffic-endpoint-day")
	})

	t.Run("provider service page", func(t *testing.T) {
		ctx := b.tab(t, tw.provider.Token())
		do(t, ctx, chromedp.Navigate(tw.base+"/console/services/"+tw.svc.ServiceID), chromedp.WaitVisible(chromedp.ID("live")))
		waitChart(t, ctx, "svc-hour-new", (conns+10)/60.0-0.001, 20*time.Second)
		row := `#traffic-endpoints tr[data-traffic-endpoint="` + tw.ep.EndpointID + `"]`
		waitText(t, ctx, row+" .new-conns", fmt.Sprint(conns+10), 10*time.Second)
		for _, z := range tw.zones {
			sel := fmt.Sprintf(`#backend-health tr[data-zone=%q][data-backend="127.0.0.1:%d"]`, z, tw.port)
			waitText(t, ctx, sel+" .badge", "Healthy", 10*time.Second)
			if lat := text(t, ctx, sel+" .latency"); !strings.HasSuffix(lat, " ms") {
				t.Errorf("zone %s backend latency %q", z, lat)
			}
		}
		if ev := text(t, ctx, "#events"); !strings.Contains(ev, "ConnectionRequested") {
			t.Errorf("events on the service page: %q", ev)
		}
		if bz := text(t, ctx, "#backends tbody"); strings.Count(bz, fmt.Sprintf("127.0.0.1:%d (Healthy, ", tw.port)) != len(tw.zones) {
			t.Errorf("backends by zone: %q, want each zone's backend Healthy with a latency", bz)
		}
		shot(t, ctx, "traffic-service-hour")

		// A service no endpoint uses: its backends are not checked, and the page says why.
		idle := tw.service(t, "no endpoints yet", true)
		do(t, ctx, chromedp.Navigate(tw.base+"/console/services/"+idle.ServiceID), chromedp.WaitVisible(chromedp.ID("live")))
		if bz := text(t, ctx, "#backends tbody"); strings.Count(bz, "not checked yet: no endpoint is served in this zone") != len(tw.zones) {
			t.Errorf("backends by zone of an unused service: %q", bz)
		}
		if bh := text(t, ctx, "#backend-health tbody"); strings.Count(bh, "Not checked") != len(tw.zones) {
			t.Errorf("backend health of an unused service: %q", bh)
		}
		if tot := chartTotal(t, ctx, "svc-hour-new"); tot != 0 {
			t.Errorf("unused service's chart total %v", tot)
		}
	})
}
