package apiserver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/testenv"
)

// FuzzCreateRequests posts arbitrary bodies to every create route: the API
// must answer 200 or a 4xx with a code and message, never 5xx or a panic.
func FuzzCreateRequests(f *testing.F) {
	seeds := []string{
		`{"vpcName":"a","cidrBlock":"10.0.0.0/16"}`,
		`{"vpcId":"vpc-aaaaaaaaaaaaaaaaaaaa","zoneId":"cn-hangzhou-h","cidrBlock":"10.0.1.0/24"}`,
		`{"vpcId":"x","rules":[{"portRange":"1/2","sourceCidrIp":"0.0.0.0/0","policy":"accept","priority":1}]}`,
		`{"vSwitchId":"vsw-x","privateIpAddress":"10.0.0.5"}`,
		`{"ports":[6001],"resources":[{"zoneId":"cn-hangzhou-h","ip":"127.0.0.1","port":1}],"autoAcceptEnabled":true}`,
		`{"serviceName":"com.privlink.cn-hangzhou.epsrv-aaaaaaaaaaaaaaaaaaaa","vpcId":"v","securityGroupIds":["sg"],"zones":[{"zoneId":"z","vSwitchId":"v","ip":"1.2.3.4"}]}`,
		`{"name":"acct","clientToken":"t","dryRun":true}`,
		`{"rules":[{"portRange":"70000","sourceCidrIp":"::/0"}]}`,
		`{"vpcId":"x","ports":[80,80],"resources":[{"zoneId":"cn-hangzhou-h","ip":"10.0.0.5"}]}`,
		`{"ports":[1],"resources":[{"zoneId":"cn-hangzhou-h","ip":"127.0.0.1"}],"allowedAccounts":["1000000000000001","1000000000000001"]}`,
		`{"ports":[1],"resources":[{"zoneId":"cn-hangzhou-h","ip":"127.0.0.1","port":1},{"zoneId":"cn-hangzhou-h","ip":"127.0.0.1","port":1}]}`,
		`{"vpcId":"x","rules":[{"portRange":"1/1","sourceCidrIp":"0.0.0.0/0"},{"ipProtocol":"TCP","portRange":"1","sourceCidrIp":"0.0.0.0/0"}]}`,
		`{"serviceDescription":"` + strings.Repeat("d", 300) + `","ports":[1]}`,
		`{"cidrBlock":"10.0.0.0/16","netnsPath":"/` + strings.Repeat("n", 5000) + `"}`,
		`{"vpcs":-1,"hosts":100000}`,
		`[]`, `null`, `{"cidrBlock":12}`, `{"ports":[-1,0,65536]}`, "\x00\xff", `{"a":`, strings.Repeat(`{"x":`, 100),
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	paths := []string{"/v1/vpcs", "/v1/vswitches", "/v1/security-groups", "/v1/hosts", "/v1/services", "/v1/endpoints", "/v1/accounts",
		"/v1/security-groups/sg-aaaaaaaaaaaaaaaaaaaa/authorize"}
	env := testenv.Start(f, testenv.Options{Network: "loopback", AgentZones: []string{}})
	c, _ := env.Account(f, "fuzzer")
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		req := httptest.NewRequest(http.MethodPost, paths[int(which)%len(paths)], bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+c.Token())
		rec := httptest.NewRecorder()
		env.API.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: HTTP %d %s", req.URL.Path, body, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 {
			var e struct{ Code, Message, RequestID string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%s %q: error body %q", req.URL.Path, body, rec.Body.String())
			}
		}
	})
}
