package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/console"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

var bg = context.Background()

// world is a running server (loopback network, console mounted) with a
// provider and a consumer account.
type world struct {
	env                    *testenv.Env
	base                   string
	provider, consumer     *client.Client
	providerID, consumerID string
	zones                  []string
}

// startWorld runs a real privlink server: embedded etcd on free loopback
// ports, temp data dir, in-process zone agents on the loopback driver.
func startWorld(t *testing.T) *world {
	t.Helper()
	e := testenv.Start(t, testenv.Options{Network: "loopback", Console: console.New})
	w := &world{env: e, base: e.URL(), zones: e.Config().Zones}
	// The provider is the admin: only the admin may publish backends on the
	// host network, which these tests use (127.0.0.1 in loopback mode).
	w.provider = e.Admin
	who, err := e.Admin.WhoAmI(bg)
	must(t, err)
	w.providerID = who.AccountID
	w.consumer, w.consumerID = e.Account(t, "consumer")
	return w
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// service publishes a service with a backend in every zone, allow-listing
// the consumer.
func (w *world) service(t *testing.T, desc string, autoAccept bool) model.EndpointService {
	t.Helper()
	port := testenv.FreePort(t)
	var backends []api.BackendSpec
	for _, z := range w.zones {
		backends = append(backends, api.BackendSpec{ZoneID: z, IP: "127.0.0.1", Port: port})
	}
	svc, err := w.provider.CreateService(bg, api.CreateServiceRequest{Description: desc, Ports: []int{port},
		Resources: backends, AutoAcceptEnabled: autoAccept, AllowedAccounts: []string{w.consumerID}})
	must(t, err)
	return svc
}

// consumerNet creates a consumer VPC with one vSwitch in each zone.
func (w *world) consumerNet(t *testing.T, cidr string) (model.VPC, []model.VSwitch) {
	t.Helper()
	vpc, err := w.consumer.CreateVPC(bg, api.CreateVPCRequest{Name: "app-vpc", CidrBlock: cidr})
	must(t, err)
	var vsws []model.VSwitch
	prefix := strings.TrimSuffix(cidr, "0.0/16")
	for i, z := range w.zones {
		v, err := w.consumer.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: z,
			CidrBlock: prefix + string(rune('1'+i)) + ".0/24", Name: "app-" + z})
		must(t, err)
		vsws = append(vsws, v)
	}
	return vpc, vsws
}

// browserless HTTP session against the console.
type httpSession struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newHTTP(t *testing.T, base string) *httpSession {
	jar, _ := cookiejar.New(nil)
	return &httpSession{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (h *httpSession) get(path string) (*http.Response, string) {
	h.t.Helper()
	resp, err := h.c.Get(h.base + path)
	must(h.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		h.csrf = string(m[1])
	}
	return resp, string(b)
}

func (h *httpSession) post(path string, form url.Values) (*http.Response, string) {
	h.t.Helper()
	resp, err := h.c.PostForm(h.base+path, form)
	must(h.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// login logs in with token through the login form.
func (h *httpSession) login(token string) (*http.Response, string) {
	h.t.Helper()
	h.get("/console/login")
	return h.post("/console/login", url.Values{"csrf": {h.csrf}, "token": {token}})
}

func (h *httpSession) mustLogin(token string) {
	h.t.Helper()
	resp, body := h.login(token)
	if resp.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("login: HTTP %d\n%s", resp.StatusCode, body)
	}
	h.get("/console/services") // picks up the session's CSRF token
	if h.csrf == "" {
		h.t.Fatal("no CSRF token on the services page")
	}
}
