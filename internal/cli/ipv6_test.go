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

// TestIPv6Commands: vpc create --ipv6 / --ipv6-cidr, vpc enable-ipv6,
// vswitch create --ipv6-index / --ipv6, host create (--ipv6-address); the
// tables show the IPv6 columns; bad input fails with its code.
func TestIPv6Commands(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	c, _ := e.Account(t, "v6cli")
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
			t.Fatalf("%v\n%s", err, out)
		}
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	var auto api.VPC
	decode(&auto, "vpc", "create", "--cidr", "10.1.0.0/16", "--ipv6", "-o", "json")
	if !auto.Ipv6CidrBlock.IsValid() || !strings.HasPrefix(auto.Ipv6CidrBlock.String(), "fd") {
		t.Fatalf("--ipv6: %v", auto.Ipv6CidrBlock)
	}
	var given api.VPC
	decode(&given, "vpc", "create", "--cidr", "10.2.0.0/16", "--ipv6-cidr", "fd12:3456:789a::/56", "-o", "json")
	if given.Ipv6CidrBlock.String() != "fd12:3456:789a::/56" {
		t.Fatalf("--ipv6-cidr: %v", given.Ipv6CidrBlock)
	}
	var sw2, swAuto api.VSwitch
	decode(&sw2, "vswitch", "create", "--vpc", given.VpcID, "--zone", "cn-hangzhou-h", "--cidr", "10.2.2.0/24", "--ipv6-index", "2", "-o", "json")
	if sw2.Ipv6CidrBlock.String() != "fd12:3456:789a:2::/64" || sw2.Ipv6Gateway.String() != "fd12:3456:789a:2::1" {
		t.Fatalf("--ipv6-index 2: %v %v", sw2.Ipv6CidrBlock, sw2.Ipv6Gateway)
	}
	decode(&swAuto, "vswitch", "create", "--vpc", given.VpcID, "--zone", "cn-hangzhou-h", "--cidr", "10.2.0.0/24", "--ipv6", "-o", "json")
	if swAuto.Ipv6CidrBlock.String() != "fd12:3456:789a::/64" {
		t.Fatalf("--ipv6: %v", swAuto.Ipv6CidrBlock)
	}
	var h api.Host
	decode(&h, "host", "create", "--vswitch", sw2.VSwitchID, "--ipv6-address", "fd12:3456:789a:2::42", "-o", "json")
	if h.Ipv6Address.String() != "fd12:3456:789a:2::42" || !h.IP.Is4() {
		t.Fatalf("host: %v %v", h.IP, h.Ipv6Address)
	}
	out, err := run("host", "list")
	if err != nil || !strings.Contains(out, "IPV6") || !strings.Contains(out, "fd12:3456:789a:2::42") {
		t.Fatalf("host list: %v\n%s", err, out)
	}
	out, err = run("vswitch", "list", "--vpc", given.VpcID)
	if err != nil || !strings.Contains(out, "IPV6 CIDR") || !strings.Contains(out, "fd12:3456:789a:2::/64") {
		t.Fatalf("vswitch list: %v\n%s", err, out)
	}
	var plain, enabled api.VPC
	decode(&plain, "vpc", "create", "--cidr", "10.3.0.0/16", "-o", "json")
	decode(&enabled, "vpc", "enable-ipv6", plain.VpcID, "--ipv6-cidr", "fd00:1:2::/56", "-o", "json")
	if enabled.VpcID != plain.VpcID || enabled.Ipv6CidrBlock.String() != "fd00:1:2::/56" {
		t.Fatalf("enable-ipv6: %+v", enabled)
	}
	for _, tc := range []struct {
		args []string
		code string
	}{
		{[]string{"vpc", "create", "--cidr", "10.4.0.0/16", "--ipv6-cidr", "2001:db8::/56"}, "InvalidIpv6CidrBlock.NotUla"},
		{[]string{"vpc", "create", "--cidr", "10.4.0.0/16", "--ipv6-cidr", "fd00::/64"}, "InvalidIpv6CidrBlock.PrefixLength"},
		{[]string{"vpc", "create", "--cidr", "10.4.0.0/16", "--ipv6-cidr", "nope"}, "InvalidIpv6CidrBlock.Malformed"},
		{[]string{"vpc", "enable-ipv6", plain.VpcID}, "InvalidVpc.Ipv6AlreadyEnabled"},
		{[]string{"vswitch", "create", "--vpc", given.VpcID, "--zone", "cn-hangzhou-h", "--cidr", "10.2.9.0/24", "--ipv6-index", "2"}, "InvalidIpv6CidrBlock.Overlapped"},
		{[]string{"vswitch", "create", "--vpc", given.VpcID, "--zone", "cn-hangzhou-h", "--cidr", "10.2.9.0/24", "--ipv6-index", "300"}, "InvalidIpv6CidrBlock.OutOfRange"},
	} {
		if _, err := run(tc.args...); err == nil || !strings.Contains(err.Error(), tc.code) {
			t.Errorf("%v: %v, want %s", tc.args, err, tc.code)
		}
	}
}
