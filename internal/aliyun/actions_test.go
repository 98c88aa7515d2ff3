package aliyun

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
)

// sdkActions are the actions of an SDK client: the methods X that come
// with XWithChan.
func sdkActions(client any) []string {
	t := reflect.TypeOf(client)
	var out []string
	for i := 0; i < t.NumMethod(); i++ {
		name := t.Method(i).Name
		if _, ok := t.MethodByName(name + "WithChan"); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// TestEveryPrivateLinkActionKnown: every action of the SDK's PrivateLink
// client is served or answers OperationUnsupported, none is unknown.
func TestEveryPrivateLinkActionKnown(t *testing.T) {
	h := New(Config{Region: "cn-hangzhou"})
	known := map[string]bool{}
	for _, a := range h.Actions() {
		known[a] = true
	}
	all := sdkActions(&privatelink.Client{})
	if len(all) < 39 {
		t.Fatalf("found only %d PrivateLink actions in the SDK: %v", len(all), all)
	}
	for _, a := range all {
		if !known[VersionPrivateLink+"/"+a] {
			t.Errorf("PrivateLink action %s is unknown to privlink", a)
		}
	}
}

// TestNonceCache: a nonce is refused again within its window, per scope,
// forgotten after it; a full cache, or a key over its share, is refused
// rather than forgotten, and one key's share does not lock out another.
func TestNonceCache(t *testing.T) {
	c := newNonceCache()
	c.maxSize, c.maxScope = 4, 2
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		scope, nonce string
		ts, now      time.Time
		code         string
	}{
		{"ak:A", "n1", t0, t0, ""},
		{"ak:A", "n1", t0, t0.Add(time.Minute), "SignatureNonceUsed"},
		{"ak:B", "n1", t0, t0.Add(time.Minute), ""},
		{"ak:A", "n2", t0, t0.Add(time.Minute), ""},
		{"ak:A", "n3", t0, t0.Add(time.Minute), "Throttling"}, // A's share
		{"ak:B", "n2", t0, t0.Add(time.Minute), ""},           // B still has room
		{"ak:C", "n1", t0, t0.Add(time.Minute), "Throttling"}, // the cache is full
		{"ak:A", "n1", t0, t0.Add(TimestampWindow - time.Second), "SignatureNonceUsed"},
		// Past the window the timestamp check refuses the request; the
		// cache forgets the nonce and has room again.
		{"ak:A", "n3", t0.Add(16 * time.Minute), t0.Add(16 * time.Minute), ""},
		{"ak:C", "n1", t0.Add(16 * time.Minute), t0.Add(16 * time.Minute), ""},
		{"ak:A", "", t0, t0, "MissingParameter"},
		{"ak:A", strings.Repeat("n", 129), t0, t0, "InvalidParameter.SignatureNonce"},
	}
	for i, s := range steps {
		err := c.use(s.scope, s.nonce, s.ts, s.now)
		got := ""
		if err != nil {
			got = h(err)
		}
		if got != s.code {
			t.Errorf("step %d (%s %s): got %q, want %q", i, s.scope, s.nonce, got, s.code)
		}
	}
}

func h(err error) string {
	return New(Config{}).toError("", err).Code
}

// TestStringToSign is the example of Alibaba's RPC signature documentation
// (ECS DescribeRegions with AccessKey testid / testsecret).
func TestStringToSign(t *testing.T) {
	p := params{"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
		"SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"}
	want := "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	if got := StringToSign("GET", p); got != want {
		t.Fatalf("string to sign:\n got %s\nwant %s", got, want)
	}
	if got := Sign(want, "testsecret"); got != "OLeaidS1JvxuMvnyHOwuJ+uX5qY=" {
		t.Fatalf("signature %s", got)
	}
}

// TestParams: flattened lists and structs, booleans, integers.
func TestParams(t *testing.T) {
	p := params{"SecurityGroupId.1": "sg-a", "SecurityGroupId.2": "sg-b", "SecurityGroupId.4": "sg-gap",
		"Zone.1.ZoneId": "z1", "Zone.1.ip": "10.0.0.5", "Zone.2.VSwitchId": "vsw-2", "DryRun": "TRUE", "MaxResults": "x"}
	if got := p.list("SecurityGroupId"); !reflect.DeepEqual(got, []string{"sg-a", "sg-b"}) {
		t.Errorf("list: %v", got)
	}
	zs := p.structs("Zone")
	if len(zs) != 2 || zs[0]["zoneid"] != "z1" || zs[0]["ip"] != "10.0.0.5" || zs[1]["vswitchid"] != "vsw-2" {
		t.Errorf("structs: %v", zs)
	}
	if b, err := p.boolean("DryRun"); err != nil || !b {
		t.Errorf("boolean: %v %v", b, err)
	}
	if _, err := p.integer("MaxResults", 50, 1, 100); err == nil {
		t.Error("integer accepted x")
	}
	if _, err := (params{"DryRun": "yes"}).boolean("DryRun"); err == nil {
		t.Error("boolean accepted yes")
	}
}
