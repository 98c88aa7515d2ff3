package console_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts Debian's chromium headless; each tab() is a separate
// browser context (own cookies), i.e. a separate user.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func startBrowser(t *testing.T, base string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser tests need Debian's chromium at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	// chromium's own temp files (its singleton socket dir) stay in the test's dir
	tmp := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Env("TMPDIR="+tmp),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		// only 127.0.0.1: every other name fails to resolve
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base}
}

// tab opens a tab in a fresh browser context, logged in with token.
func (b *browser) tab(t *testing.T, token string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 45*time.Second)
	t.Cleanup(cancelT)
	do(t, ctx,
		chromedp.Navigate(b.base+"/console/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("logout")),
	)
	return ctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v (page: %s)", err, pageInfo(ctx))
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v (page: %s)", sel, err, pageInfo(ctx))
	}
	return strings.TrimSpace(s)
}

func pageInfo(ctx context.Context) string {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(c, chromedp.Location())
	title, _ := chromedp.Run(c, chromedp.Title())
	return fmt.Sprintf("%s %q", loc, title)
}

// waitText polls the text of sel until it equals want.
func waitText(t *testing.T, ctx context.Context, sel, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	got := ""
	for time.Now().Before(deadline) {
		if got = text(t, ctx, sel); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s shows %q, want %q after %s (page: %s)", sel, got, want, timeout, pageInfo(ctx))
}

// screenshot saves a full-page PNG into testdata/artifacts (gitignored).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("testdata", "artifacts")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// TestBrowser drives the console with a real chromium: the provider's
// Connect panel, creating an endpoint through the form, and approving a
// pending connection.
func TestBrowser(t *testing.T) {
	w := startWorld(t)
	b := startBrowser(t, w.base)

	t.Run("provider connect panel", func(t *testing.T) {
		svc := w.service(t, "orders database (MySQL)", true)
		region, err := w.provider.DescribeRegion(bg)
		must(t, err)
		ctx := b.tab(t, w.provider.Token())
		do(t, ctx,
			chromedp.Navigate(w.base+"/console/services"),
			chromedp.Click(chromedp.CSS(`a[href="/console/services/`+svc.ServiceID+`"]`)),
			chromedp.WaitVisible(chromedp.ID("connect")),
		)
		if got := text(t, ctx, "#connect-service-name"); got != svc.Name {
			t.Errorf("service name %q, API says %q", got, svc.Name)
		}
		var zones []string
		for _, z := range strings.Split(text(t, ctx, "#connect-zone-ids"), ",") {
			zones = append(zones, strings.TrimSpace(z))
		}
		if !slices.Equal(zones, svc.Zones) {
			t.Errorf("zone IDs %q, API says %q", zones, svc.Zones)
		}
		if got := text(t, ctx, "#connect-region-id"); got != region.RegionID || got != svc.RegionID {
			t.Errorf("region ID %q, API says %q", got, region.RegionID)
		}
		example := text(t, ctx, "#connect-example")
		if want := fmt.Sprintf("mysql -h <endpoint domain> -P %d -u acct1:admin:accountadmin -p", svc.Ports[0]); example != want {
			t.Errorf("example %q, want %q", example, want)
		}
		// the copy buttons are live once the script ran
		do(t, ctx, chromedp.WaitVisible(chromedp.CSS(`button[data-copy="connect-service-name"]`)))
		screenshot(t, ctx, "provider-service")
	})

	t.Run("consumer creates endpoint", func(t *testing.T) {
		svc := w.service(t, "inventory", true)
		vpc, vsws := w.consumerNet(t, "10.20.0.0/16")
		ctx := b.tab(t, w.consumer.Token())
		do(t, ctx,
			chromedp.Navigate(w.base+"/console/endpoints"),
			chromedp.Click(chromedp.CSS(`a[href="/console/endpoints/new"].button`)),
			chromedp.WaitVisible(chromedp.ID("serviceName")),
			chromedp.SetValue(chromedp.ID("serviceName"), svc.Name),
			chromedp.Click(chromedp.ID("search-service")),
			chromedp.WaitVisible(chromedp.CSS("a.select-service")),
			chromedp.Click(chromedp.CSS("a.select-service")),
			chromedp.WaitVisible(chromedp.ID("create-endpoint")),
		)
		if got := text(t, ctx, "#chosen-service"); got != svc.Name {
			t.Fatalf("chosen service %q, want %q", got, svc.Name)
		}
		for i, vsw := range vsws {
			v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(fmt.Sprintf("zone-%d", i))))
			must(t, err)
			if v != vsw.VSwitchID {
				t.Errorf("zone %s: pre-selected %q, want %s", vsw.ZoneID, v, vsw.VSwitchID)
			}
		}
		sg, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("securityGroup")))
		must(t, err)
		if sg != "new" {
			t.Errorf("security group pre-selection %q, want 'new' (the VPC has none)", sg)
		}
		screenshot(t, ctx, "consumer-create-endpoint")
		do(t, ctx,
			chromedp.Click(chromedp.ID("create-endpoint")),
			chromedp.WaitVisible(chromedp.ID("endpoint-domain")),
		)
		waitText(t, ctx, `[data-ep="endpointStatus"] .badge`, "Active", 10*time.Second)
		domain := text(t, ctx, "#endpoint-domain")

		eps, err := w.consumer.ListEndpoints(bg, client.Filter{VpcID: vpc.VpcID})
		must(t, err)
		if len(eps) != 1 {
			t.Fatalf("%d endpoints in the VPC, want 1", len(eps))
		}
		ep := eps[0]
		if domain != ep.EndpointDomain || domain == "" {
			t.Errorf("page shows endpoint domain %q, API says %q", domain, ep.EndpointDomain)
		}
		if len(ep.Zones) != 2 || ep.ServiceID != svc.ServiceID || ep.EndpointStatus != model.StatusActive {
			t.Errorf("endpoint %+v, want Active in 2 zones of %s", ep, svc.ServiceID)
		}
		g, err := w.consumer.GetSecurityGroup(bg, ep.SecurityGroupIDs[0])
		must(t, err)
		wantRule := model.SecurityGroupRule{Protocol: "tcp", PortRange: fmt.Sprintf("%d/%d", svc.Ports[0], svc.Ports[0]),
			SourceCidr: vpc.CidrBlock.String(), Policy: "accept", Priority: 1}
		if len(g.Rules) != 1 || g.Rules[0] != wantRule {
			t.Errorf("inline security group rules %+v, want %+v", g.Rules, wantRule)
		}
		for i, z := range ep.Zones {
			if got := text(t, ctx, fmt.Sprintf(`tr[data-zone-id=%q] [data-zf="ip"]`, z.ZoneID)); got != z.IP.String() {
				t.Errorf("zone %d IP %q, API says %q", i, got, z.IP)
			}
		}
		cmd := text(t, ctx, "#mysql-command")
		if want := fmt.Sprintf("mysql -h %s -P %d -u acct1:admin:accountadmin -p", ep.EndpointDomain, svc.Ports[0]); cmd != want {
			t.Errorf("command %q, want %q", cmd, want)
		}
		waitText(t, ctx, `[data-ep="connectionStatus"] .badge`, "Connected", 5*time.Second)
		screenshot(t, ctx, "consumer-endpoint")
	})

	t.Run("provider accepts pending connection", func(t *testing.T) {
		svc := w.service(t, "manual approval", false)
		vpc, vsws := w.consumerNet(t, "10.30.0.0/16")
		g, err := w.consumer.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: vpc.VpcID, Name: "sg-app"})
		must(t, err)
		ep, err := w.consumer.CreateEndpoint(bg, api.CreateEndpointRequest{ServiceName: svc.Name, VpcID: vpc.VpcID,
			SecurityGroupIDs: []string{g.SecurityGroupID}, Zones: []api.EndpointZoneRequest{
				{ZoneID: vsws[0].ZoneID, VSwitchID: vsws[0].VSwitchID}, {ZoneID: vsws[1].ZoneID, VSwitchID: vsws[1].VSwitchID}}})
		must(t, err)

		consumer := b.tab(t, w.consumer.Token())
		do(t, consumer, chromedp.Navigate(w.base+"/console/endpoints/"+ep.EndpointID), chromedp.WaitVisible(chromedp.ID("endpoint-domain")))
		waitText(t, consumer, `[data-ep="endpointStatus"] .badge`, "Active", 10*time.Second)
		if got := text(t, consumer, `[data-ep="connectionStatus"] .badge`); got != "Pending" {
			t.Fatalf("connection %q before approval, want Pending", got)
		}

		provider := b.tab(t, w.provider.Token())
		row := `tr[data-endpoint="` + ep.EndpointID + `"]`
		do(t, provider,
			chromedp.Navigate(w.base+"/console/services/"+svc.ServiceID),
			chromedp.WaitVisible(chromedp.CSS(row+" button.accept")),
		)
		if got := text(t, provider, row+" .conn-status"); got != "Pending" {
			t.Errorf("provider sees connection %q, want Pending", got)
		}
		screenshot(t, provider, "provider-pending-connection")
		do(t, provider,
			chromedp.Click(chromedp.CSS(row+" button.accept")),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
		)
		if got := text(t, provider, row+" .conn-status"); got != "Connected" {
			t.Errorf("after Accept the provider sees %q, want Connected", got)
		}
		// the consumer's page notices by itself
		waitText(t, consumer, `[data-ep="connectionStatus"] .badge`, "Connected", 10*time.Second)
		ep, err = w.consumer.GetEndpoint(bg, ep.EndpointID)
		must(t, err)
		if ep.ConnectionStatus != model.ConnConnected {
			t.Errorf("API says connection %s, want Connected", ep.ConnectionStatus)
		}
		screenshot(t, consumer, "consumer-endpoint-connected")
	})

	t.Run("VPC choice filters vSwitches", func(t *testing.T) {
		// the consumer now has two VPCs (10.20/16 and 10.30/16)
		svc := w.service(t, "filter", true)
		vpcs, err := w.consumer.ListVPCs(bg)
		must(t, err)
		if len(vpcs) < 2 {
			t.Fatalf("want two consumer VPCs, have %d", len(vpcs))
		}
		second := vpcs[1]
		vsws, err := w.consumer.ListVSwitches(bg, client.Filter{VpcID: second.VpcID})
		must(t, err)
		ctx := b.tab(t, w.consumer.Token())
		do(t, ctx, chromedp.Navigate(w.base+"/console/endpoints/new?serviceName=&service="+svc.ServiceID),
			chromedp.WaitVisible(chromedp.ID("create-endpoint")))
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.getElementById('vpcId');
			s.value = `+fmt.Sprintf("%q", second.VpcID)+`; s.dispatchEvent(new Event('change')); return true })()`)); err != nil {
			t.Fatal(err)
		}
		for i := range w.zones {
			v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(fmt.Sprintf("zone-%d", i))))
			must(t, err)
			if !slices.ContainsFunc(vsws, func(x model.VSwitch) bool { return x.VSwitchID == v }) {
				t.Errorf("zone %d: after choosing %s the form selects %q, not one of its vSwitches", i, second.VpcID, v)
			}
		}
		sg, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("securityGroup")))
		must(t, err)
		if sg != "new" {
			g, err := w.consumer.GetSecurityGroup(bg, sg)
			must(t, err)
			if g.VpcID != second.VpcID {
				t.Errorf("security group %s of %s offered for %s", sg, g.VpcID, second.VpcID)
			}
		}
	})

	t.Run("every page renders", func(t *testing.T) {
		ctx := b.tab(t, w.consumer.Token())
		vpcs, err := w.consumer.ListVPCs(bg)
		must(t, err)
		sgs, err := w.consumer.ListSecurityGroups(bg, client.Filter{})
		must(t, err)
		pages := map[string]string{
			"endpoints": "/console/endpoints", "vpcs": "/console/vpcs", "vpc": "/console/vpcs/" + vpcs[0].VpcID,
			"security-groups": "/console/security-groups", "security-group": "/console/security-groups/" + sgs[0].SecurityGroupID,
			"services": "/console/services", "service-new": "/console/services/new", "not-found": "/console/nope",
			"access-keys": "/console/access-keys",
		}
		for name, p := range pages {
			do(t, ctx, chromedp.Navigate(w.base+p), chromedp.WaitVisible(chromedp.CSS("h1")))
			title, err := chromedp.Run(ctx, chromedp.Title())
			must(t, err)
			if !strings.HasSuffix(title, "· privlink console") || text(t, ctx, "h1") == "" {
				t.Errorf("%s: title %q, h1 %q", p, title, text(t, ctx, "h1"))
			}
			screenshot(t, ctx, "page-"+name)
		}
		// a wrong token in a fresh browser context
		anon, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
		defer cancel()
		do(t, anon, chromedp.Navigate(w.base+"/console/vpcs"), chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SetValue(chromedp.ID("token"), "plk_wrong"), chromedp.Submit(chromedp.ID("token")),
			chromedp.WaitVisible(chromedp.ID("token-error")))
		if got := text(t, anon, "#token-error"); !strings.HasPrefix(got, "The token is not valid") {
			t.Errorf("wrong token shows %q", got)
		}
		screenshot(t, anon, "login-wrong-token")
	})
}
