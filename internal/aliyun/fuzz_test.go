package aliyun_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/aliyun"
	"github.com/privlink/privlink/internal/testenv"
)

// FuzzRPCParams sends every known action with arbitrary parameters, as an
// authenticated account (bearer token): the answer is 200 with a
// RequestId, or a 4xx with exactly Alibaba's error body — never a 5xx or
// a panic.
func FuzzRPCParams(f *testing.F) {
	actions := aliyun.New(aliyun.Config{}).Actions()
	sort.Strings(actions)
	seeds := []string{
		"CidrBlock=10.0.0.0/16&VpcName=a",
		"VpcId=vpc-aaaaaaaaaaaaaaaaaaaa&ZoneId=cn-hangzhou-h&CidrBlock=10.0.1.0/24",
		"Resource.1.ResourceType=backend&Resource.1.ResourceId=10.0.1.5:6001&Resource.1.ZoneId=cn-hangzhou-h",
		"Zone.1.ZoneId=z&Zone.1.VSwitchId=v&Zone.1.ip=1.2.3.4&SecurityGroupId.1=sg-x&VpcId=v&ServiceName=s",
		"Permissions.1.IpProtocol=TCP&Permissions.1.PortRange=1/2&Permissions.1.SourceCidrIp=0.0.0.0/0&SecurityGroupId=sg-x",
		"MaxResults=0&NextToken=%%%&PageNumber=-1&PageSize=1000000000000",
		"DryRun=maybe&AutoAcceptEnabled=1&UserId=abc&UserARN=acs:ram::1:root",
		"SecurityGroupIds=[1,2]&InstanceIds={}&Amount=2",
		strings.Repeat("Zone.1.", 50) + "=x",
	}
	for i, s := range seeds {
		f.Add(uint16(i*7), s)
	}
	env := testenv.Start(f, testenv.Options{Network: "loopback", AgentZones: []string{}})
	c, _ := env.Account(f, "fuzzer")
	var nonce atomic.Int64
	f.Fuzz(func(t *testing.T, which uint16, raw string) {
		q, _ := url.ParseQuery(raw)
		if q == nil {
			q = url.Values{}
		}
		version, action, _ := strings.Cut(actions[int(which)%len(actions)], "/")
		q.Set("Action", action)
		q.Set("Version", version)
		q.Set("SignatureType", "BEARERTOKEN")
		q.Set("BearerToken", c.Token())
		q.Set("Timestamp", time.Now().UTC().Format("2006-01-02T15:04:05Z"))
		q.Set("SignatureNonce", fmt.Sprint("fuzz-", nonce.Add(1)))
		resp, err := http.Post(env.URL()+"/?"+q.Encode(), "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s: HTTP %d %s", action, raw, resp.StatusCode, body)
		}
		if resp.StatusCode >= 400 {
			var e struct{ Code, Message, RequestId, HostId, Recommend string }
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil || e.Code == "" || e.Message == "" || e.RequestId == "" {
				t.Fatalf("%s %s: error body %s (%v)", action, raw, body, err)
			}
			return
		}
		var ok struct{ RequestId string }
		if err := json.Unmarshal(body, &ok); err != nil || ok.RequestId == "" {
			t.Fatalf("%s %s: body %s", action, raw, body)
		}
	})
}
