package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/testenv"
)

var bg = context.Background()

// corruptions turn a stored value into a bad one: bytes that are not JSON,
// truncated JSON, JSON whose values are invalid (empty IDs, an out-of-range
// address), and JSON whose fields have the wrong types.
var corruptions = []struct {
	name string
	bad  func(orig string) string
}{
	{"garbage", func(string) string { return "\x00\xff\xfe not json at all" }},
	{"invalid json", func(orig string) string { return orig[:len(orig)/2] + `{"` }},
	{"invalid values", func(orig string) string { return mapJSON(orig, badValue) }},
	{"wrong types", func(orig string) string { return mapJSON(orig, wrongType) }},
}

// TestCorruptStore writes bad records of every key kind straight into etcd
// while a server with a live endpoint and traffic runs: the process stays
// up, another tenant's API calls succeed, a connection opened before keeps
// flowing, no namespace is removed, and the bad records are counted.
func TestCorruptStore(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true})
	for _, h := range s.ProviderHosts {
		e.Serve(t, h.HostID, 6001, echo)
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	live := dialEndpoint(t, e, s.ConsumerHost.HostID, netip.AddrPortFrom(ep.Zones[0].IP, 6001))
	roundTrip(t, live, "before")

	other, _ := e.Account(t, "bystander")
	otherVPC, err := other.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.9.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	namespaces := netnsList(t, e.Prefix)

	var dump map[string]string
	dump, err = e.Store.Dump(bg)
	if err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range dump {
			if !strings.Contains(dump[k], otherVPC.AccountID) && !strings.Contains(k, otherVPC.VpcID) && !yield(k) {
				return
			}
		}
	})
	kinds := map[string]bool{}
	for i, key := range keys {
		kind, _, _ := strings.Cut(strings.TrimPrefix(key, e.Store.Prefix()), "/")
		kinds[kind] = true
		for _, c := range corruptions {
			if err := e.Store.PutRaw(bg, key, c.bad(dump[key])); err != nil {
				t.Fatal(err)
			}
		}
		// The bystander's calls go through the API, its list and its record.
		if got, err := other.GetVPC(bg, otherVPC.VpcID); err != nil || got.CidrBlock != otherVPC.CidrBlock {
			t.Fatalf("after corrupting %s: bystander's GET failed: %v", key, err)
		}
		if list, err := other.ListVPCs(bg); err != nil || len(list) != 1 {
			t.Fatalf("after corrupting %s: bystander's list failed: %v %+v", key, err, list)
		}
		roundTrip(t, live, "after "+strconv.Itoa(i))
	}
	t.Logf("corrupted %d keys of kinds %v", len(keys), slices.Sorted(func(yield func(string) bool) {
		for k := range kinds {
			if !yield(k) {
				return
			}
		}
	}))
	for _, k := range []string{"account", "token", "vpc", "vsw", "sg", "host", "svc", "ep", "ipam", "svcep", "vpcep", "report", "agent", "meta"} {
		if !kinds[k] {
			t.Errorf("the scenario has no %s key to corrupt", k)
		}
	}
	// A tenant whose token record is bad is refused, and nobody else is.
	if _, err := s.Consumer.WhoAmI(bg); err == nil {
		t.Error("a corrupted token record still authenticates")
	}
	time.Sleep(500 * time.Millisecond) // a few reconcile rounds on the bad state
	roundTrip(t, live, "at the end")
	if now := netnsList(t, e.Prefix); !slices.Equal(now, namespaces) {
		t.Errorf("namespaces changed:\nbefore %v\nafter  %v", namespaces, now)
	}
	metrics := scrape(t, e.MetricsURL()+"/metrics")
	for _, kind := range []string{"vpc", "vsw", "sg", "host", "svc", "ep", "report", "agent", "token"} {
		re := regexp.MustCompile(`privlink_store_bad_records_total\{kind="` + kind + `"\} (\d+)`)
		if m := re.FindStringSubmatch(metrics); m == nil || m[1] == "0" {
			t.Errorf("bad %s records not counted: %v", kind, m)
		}
	}
	if strings.Contains(metrics, "privlink_reconcile_panics_total{") {
		t.Errorf("a reconcile loop panicked:\n%s", grep(metrics, "privlink_reconcile_panics_total"))
	}

	// A restart on the bad records starts and removes nothing either: the
	// agents' first-round prune leaves alone what a bad record may describe.
	live.Close()
	e.Stop()
	e = testenv.Start(t, testenv.Options{DataDir: e.Dir, Prefix: e.Prefix})
	if now := netnsList(t, e.Prefix); !slices.Equal(now, namespaces) {
		t.Errorf("namespaces changed across a restart on bad records:\nbefore %v\nafter  %v", namespaces, now)
	}

	// Good records written back are taken up again.
	for _, key := range keys {
		if err := e.Store.PutRaw(bg, key, dump[key]); err != nil {
			t.Fatal(err)
		}
	}
	consumer := client.New(e.URL(), s.Consumer.Token())
	if _, err := consumer.WhoAmI(bg); err != nil {
		t.Errorf("the restored token is refused: %v", err)
	}
	fresh := dialEndpoint(t, e, s.ConsumerHost.HostID, netip.AddrPortFrom(ep.Zones[1].IP, 6001))
	roundTrip(t, fresh, "restored")
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

func dialEndpoint(t *testing.T, e *testenv.Env, hostID string, addr netip.AddrPort) net.Conn {
	t.Helper()
	hs := e.Driver.Sockets
	var c net.Conn
	testenv.Eventually(t, "connect to "+addr.String(), func() (err error) {
		ctx, cancel := context.WithTimeout(bg, 2*time.Second)
		defer cancel()
		c, err = hs.DialHost(ctx, hostID, addr)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn, what string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(c, "ping %s\n", what); err != nil {
		t.Fatalf("live connection, %s: %v", what, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping "+what+"\n" {
		t.Fatalf("live connection, %s: %q %v", what, line, err)
	}
}

func netnsList(t *testing.T, prefix string) []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], prefix+"-") {
			names = append(names, f[0])
		}
	}
	slices.Sort(names)
	return names
}

func scrape(t *testing.T, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grep(text, what string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, what) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// mapJSON rewrites every leaf of a JSON object with f; a value that is not
// a JSON object becomes f of the whole.
func mapJSON(orig string, f func(any) any) string {
	var v any
	if json.Unmarshal([]byte(orig), &v) != nil {
		b, _ := json.Marshal(f(orig))
		return string(b)
	}
	b, _ := json.Marshal(walk(v, f))
	return string(b)
}

func walk(v any, f func(any) any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = walk(e, f)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = walk(e, f)
		}
		return x
	default:
		return f(v)
	}
}

// badValue keeps the type but makes the value invalid: addresses out of
// range, other strings empty, numbers negative.
func badValue(v any) any {
	switch x := v.(type) {
	case string:
		if _, err := netip.ParseAddr(x); err == nil {
			return "10.0.0.300"
		}
		if _, err := netip.ParsePrefix(x); err == nil {
			return "10.0.0.0/99"
		}
		return ""
	case float64:
		return -x - 1
	}
	return v
}

// wrongType swaps each leaf's JSON type.
func wrongType(v any) any {
	switch v.(type) {
	case string:
		return 42
	case float64:
		return "forty-two"
	case bool:
		return []int{1}
	}
	return map[string]any{}
}
