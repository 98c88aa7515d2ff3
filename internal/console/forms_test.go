package console

import (
	"errors"
	"reflect"
	"testing"

	"github.com/privlink/privlink/internal/api"
)

func TestFieldMapping(t *testing.T) {
	m := fieldMap{"Resources": "backends", "CidrBlock": "cidr", "VpcNotFound": "vpcId", "Zones.VSwitchId": "zone"}
	for code, want := range map[string]string{
		"InvalidParameter.Resources.Ip":     "backends", // falls back to the parent field
		"InvalidParameter.Resources":        "backends",
		"InvalidParameter.CidrBlock":        "cidr",
		"MissingParameter.CidrBlock":        "cidr",
		"VpcNotFound":                       "vpcId",
		"InvalidParameter.Zones.VSwitchId":  "zone",
		"InvalidParameter.Zones.Ip":         "",
		"InvalidParameter.Name":             "",
		"QuotaExceeded.Endpoint":            "",
		"OperationDenied.NotAllowListed":    "",
		"InvalidParameter.":                 "",
		"InvalidParameter.CidrBlockExtra.x": "",
	} {
		if got := m.lookup(code); got != want {
			t.Errorf("lookup(%q) = %q, want %q", code, got, want)
		}
	}

	f := newForm(nil)
	f.apiFail(&api.Error{Status: 400, Code: "InvalidParameter.CidrBlock", Message: "bad cidr"}, m)
	f.apiFail(&api.Error{Status: 400, Code: "Conflict.Concurrent", Message: "retry"}, m)
	if f.Err("cidr") != "bad cidr" || f.Top != "retry (Conflict.Concurrent)" {
		t.Errorf("errors %v, top %q", f.Errors, f.Top)
	}
	f = newCreateForm()
	tok := f.Get("clientToken")
	f.apiFail(&api.Error{Status: 400, Code: "IdempotentParameterMismatch"}, m)
	if f.Get("clientToken") == tok || f.Top == "" {
		t.Error("a reused clientToken is not replaced")
	}
	f.apiFail(errors.New("boom"), m)
	if f.Top != "boom" {
		t.Errorf("plain error on top: %q", f.Top)
	}
}

func TestParseBackends(t *testing.T) {
	got, err := parseBackends("cn-hangzhou-h=192.168.1.10:6001\r\n\n# comment\n cn-hangzhou-i = 192.168.2.10 \n")
	if err != nil {
		t.Fatal(err)
	}
	want := []api.BackendSpec{{ZoneID: "cn-hangzhou-h", IP: "192.168.1.10", Port: 6001}, {ZoneID: "cn-hangzhou-i", IP: "192.168.2.10"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"", "192.168.1.10:6001", "z=nothost", "=1.2.3.4:5", "z=1.2.3.4:99999"} {
		if _, err := parseBackends(bad); err == nil {
			t.Errorf("parseBackends(%q) accepted", bad)
		}
	}
	if p, u, err := parsePorts("6001, 6002"); err != nil || !reflect.DeepEqual(p, []int{6001, 6002}) || u != nil {
		t.Errorf("parsePorts: %v %v %v", p, u, err)
	}
	if p, u, err := parsePorts("53/udp, 53/tcp 5353/UDP"); err != nil || !reflect.DeepEqual(p, []int{53}) || !reflect.DeepEqual(u, []int{53, 5353}) {
		t.Errorf("parsePorts with protocols: %v %v %v", p, u, err)
	}
	for _, bad := range []string{"", "0", "65536", "x", "53/sctp", "/udp"} {
		if _, _, err := parsePorts(bad); err == nil {
			t.Errorf("parsePorts(%q) accepted", bad)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/vpcs":          "/console/vpcs",
		"":                       "/console/services",
		"https://evil.example/":  "/console/services",
		"//evil.example/console": "/console/services",
		"/console/\r\nx":         "/console/services",
		"/v1/vpcs":               "/console/services",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
