package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/cli"
	"github.com/privlink/privlink/internal/testenv"
)

// TestDualStackCommands: service create/update --address-ip-version,
// IPv6 backends (--backend ZONE=[IPV6]:PORT), security-group authorize
// --source with an IPv6 prefix, endpoint create --zone
// ZONE=VSWITCH,ipv6=ADDR; the tables show IP VERSION and IPV6; bad input
// fails with its code.
func TestDualStackCommands(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	c, _ := e.Account(t, "v6epcli")
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := cli.NewRoot(&out)
		root.SetArgs(append([]string{"--server", e.URL(), "--token", c.Token()}, args...))
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	decode := func(v any, args ...string) {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	const zone = "cn-hangzhou-h"
	var vpc api.VPC
	decode(&vpc, "vpc", "create", "--cidr", "10.5.0.0/16", "--ipv6-cidr", "fd55::/56", "-o", "json")
	var sw api.VSwitch
	decode(&sw, "vswitch", "create", "--vpc", vpc.VpcID, "--zone", zone, "--cidr", "10.5.1.0/24", "--ipv6-index", "1", "-o", "json")
	var h api.Host
	decode(&h, "host", "create", "--vswitch", sw.VSwitchID, "-o", "json")
	var svc api.EndpointService
	decode(&svc, "service", "create", "--vpc", vpc.VpcID, "--port", "6001", "--backend", zone+"=["+h.Ipv6Address.String()+"]:6001",
		"--address-ip-version", "DualStack", "--auto-accept", "-o", "json")
	if svc.AddressIPVersion != "dualstack" || svc.Resources[0].IP != h.Ipv6Address {
		t.Fatalf("service: %q %v", svc.AddressIPVersion, svc.Resources)
	}
	out, err := run("service", "list")
	if err != nil || !strings.Contains(out, "IP VERSION") || !strings.Contains(out, "dualstack") {
		t.Fatalf("service list: %v\n%s", err, out)
	}
	var sg api.SecurityGroup
	decode(&sg, "sg", "create", "--vpc", vpc.VpcID, "-o", "json")
	decode(&sg, "sg", "authorize", sg.SecurityGroupID, "--port", "6001", "--source", "fd55::/56", "-o", "json")
	if len(sg.Rules) != 1 || sg.Rules[0].SourceCidr != "fd55::/56" {
		t.Fatalf("IPv6 rule: %v", sg.Rules)
	}
	want := "fd55:0:0:1::77"
	var ep api.Endpoint
	decode(&ep, "endpoint", "create", "--service", svc.ServiceID, "--vpc", vpc.VpcID, "--security-group", sg.SecurityGroupID,
		"--zone", zone+"="+sw.VSwitchID+",ipv6="+want, "-o", "json")
	if ep.Zones[0].Ipv6Address.String() != want || !ep.Zones[0].IP.Is4() {
		t.Fatalf("endpoint zone: %v %v", ep.Zones[0].IP, ep.Zones[0].Ipv6Address)
	}
	out, err = run("endpoint", "get", ep.EndpointID)
	if err != nil || !strings.Contains(out, "IPV6") || !strings.Contains(out, want) {
		t.Fatalf("endpoint get: %v\n%s", err, out)
	}
	decode(&svc, "service", "update", svc.ServiceID, "--address-ip-version", "ipv4", "-o", "json")
	if svc.AddressIPVersion != "ipv4" {
		t.Fatalf("update: %q", svc.AddressIPVersion)
	}
	for _, tc := range []struct {
		args []string
		code string
	}{
		{[]string{"service", "update", svc.ServiceID, "--address-ip-version", "ipv6"}, "InvalidParameter.AddressIpVersion"},
		{[]string{"sg", "authorize", sg.SecurityGroupID, "--port", "1", "--source", "fd55::/zz"}, "InvalidParameter.SourceCidrIp"},
		{[]string{"endpoint", "create", "--service", svc.ServiceID, "--vpc", vpc.VpcID, "--security-group", sg.SecurityGroupID,
			"--zone", zone + "=" + sw.VSwitchID + ",ipv6=fd55:0:0:1::78"}, "OperationDenied.ServiceNotDualStack"},
	} {
		if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.code) {
			t.Errorf("%v: %v, want %s", tc.args, err, tc.code)
		}
	}
}
