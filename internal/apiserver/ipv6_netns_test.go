package apiserver_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/testenv"
)

// TestIPv6EndToEnd (root: real namespaces): through the API, the zone
// agent and the netns driver, two hosts in different vSwitches of a
// dual-stack VPC talk TCP over IPv6, and a host of an IPv4-only vSwitch
// gets no IPv6 address.
func TestIPv6EndToEnd(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	c, _ := e.Account(t, "v6e2e")
	vpc, err := c.CreateVPC(bg, api.CreateVPCRequest{CidrBlock: "10.9.0.0/16", EnableIpv6: true})
	if err != nil {
		t.Fatal(err)
	}
	var hosts []api.Host
	for i, cidr := range []string{"10.9.0.0/24", "10.9.1.0/24"} {
		sw, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: v6zone, CidrBlock: cidr, Ipv6CidrBlock: intp(i)})
		if err != nil {
			t.Fatal(err)
		}
		h, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: sw.VSwitchID})
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	s := e.Driver.Sockets
	addr := netip.AddrPortFrom(hosts[0].Ipv6Address, 7301)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ln, err := s.ListenHost(hosts[0].HostID, addr)
		if err == nil {
			serveOnce(t, ln)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listen on host A's IPv6 address %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		ctx, cancel := context.WithTimeout(bg, 2*time.Second)
		conn, err := s.DialHost(ctx, hosts[1].HostID, addr)
		cancel()
		if err == nil {
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			b, err := io.ReadAll(conn)
			conn.Close()
			if err != nil || string(b) != "v6" {
				t.Fatalf("read from host A over IPv6: %q %v", b, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host B -> host A [%s]: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// An IPv4-only vSwitch of the same VPC: its host has no global IPv6
	// address once the agent has plugged it (its IPv4 address is there).
	sw, err := c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc.VpcID, ZoneID: v6zone, CidrBlock: "10.9.2.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	h4, err := c.CreateHost(bg, api.CreateHostRequest{VSwitchID: sw.VSwitchID})
	if err != nil || h4.Ipv6Address.IsValid() {
		t.Fatalf("host on an IPv4-only vSwitch: %v %v", h4.Ipv6Address, err)
	}
	for {
		out, err := s.ExecCommand(bg, h4.HostID, []string{"ip", "addr", "show", "dev", "eth0", "scope", "global"}).CombinedOutput()
		if err == nil && strings.Contains(string(out), h4.IP.String()) {
			if strings.Contains(string(out), "inet6") {
				t.Fatalf("IPv4-only host has an IPv6 address:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("IPv4-only host not plugged: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveOnce writes "v6" to each connection on ln until the test ends.
func serveOnce(t *testing.T, ln net.Listener) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("v6"))
			c.Close()
		}
	}()
}
