package scenario_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/testenv"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitActive(t *testing.T, b *scenario.Builder, id string) model.Endpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ep, err := b.Consumer.WaitEndpoint(ctx, id, func(ep model.Endpoint) bool {
		return ep.EndpointStatus == model.StatusActive && ep.ConnectionStatus == model.ConnConnected
	}, nil)
	if err != nil {
		t.Fatalf("endpoint %s not Active: %v; last %+v", id, err, ep)
	}
	return ep
}

// TestPhases builds the canonical scenario phase by phase as the demo does
// (servers in the provider hosts before publishing, manual approval): the
// VPCs overlap, the progress callback sees every resource in order, and
// the endpoint becomes Active and carries traffic in both zones. A second
// consumer network with its own CIDR gets an endpoint in one zone only.
func TestPhases(t *testing.T) {
	e := testenv.Start(t, testenv.Options{})
	ctx := context.Background()
	b, err := scenario.NewBuilder(ctx, e.Admin, "provider", "consumer")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	b.Progress = func(ev scenario.Event) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, string(ev.Side)+" "+string(ev.Kind))
	}
	s := scenario.New(b, scenario.Canonical(scenario.Options{Zones: e.Config().Zones}))
	must(t, s.CreateProvider(ctx))
	for _, h := range s.ProviderNet.Hosts {
		serveName(t, e, h.HostID, 6001, "db-"+h.ZoneID)
	}
	must(t, s.CreateService(ctx))
	must(t, s.CreateConsumer(ctx))
	must(t, s.CreateEndpoint(ctx))
	want := []string{"provider vpc", "provider vSwitch", "provider vSwitch", "provider host", "provider host", "provider service",
		"consumer vpc", "consumer vSwitch", "consumer vSwitch", "consumer securityGroup", "consumer host", "consumer endpoint"}
	if !slices.Equal(seen, want) {
		t.Errorf("progress saw\n%v\nwant\n%v", seen, want)
	}
	if p, c := s.ProviderNet.VPC.CidrBlock, s.ConsumerNet.VPC.CidrBlock; p != c {
		t.Errorf("provider VPC %s and consumer VPC %s should overlap", p, c)
	}
	if s.Endpoint.ConnectionStatus != model.ConnPending {
		t.Errorf("connection %s before approval, want Pending", s.Endpoint.ConnectionStatus)
	}
	if _, err := s.Provider.AcceptConnection(ctx, s.Service.ServiceID, s.Endpoint.EndpointID); err != nil {
		t.Fatal(err)
	}
	ep := waitActive(t, s.Builder, s.Endpoint.EndpointID)
	client := s.ConsumerNet.Hosts[0].HostID
	for _, z := range ep.Zones {
		expectAnswer(t, e, client, netip.AddrPortFrom(z.IP, 6001), "db-")
	}

	// The benchmark's shape: another consumer VPC, its host on a vSwitch
	// of its own, an endpoint in the first zone only.
	zone := e.Config().Zones[0]
	n, err := b.Network(ctx, scenario.ConsumerSide, scenario.NetworkSpec{Name: "other", CIDR: "10.1.0.0/16",
		VSwitches:     []scenario.VSwitchSpec{{ZoneID: zone, Subnet: 1}, {ZoneID: zone, Subnet: 3}},
		SecurityGroup: &scenario.SecurityGroupSpec{Name: "all", Rules: []model.SecurityGroupRule{scenario.AcceptTCP(1, 65535, "10.1.0.0/16")}},
		Hosts:         []scenario.HostSpec{{Name: "probe", VSwitch: 1}}})
	must(t, err)
	if got := n.Hosts[0].IP.String(); got != "10.1.3.2" {
		t.Errorf("host on the second vSwitch at %s, want 10.1.3.2", got)
	}
	one, err := b.Connect(ctx, n, s.Service, scenario.EndpointSpec{Name: "one-zone", VSwitches: []int{0}})
	must(t, err)
	if len(one.Zones) != 1 || one.Zones[0].ZoneID != zone || one.Name != "one-zone" {
		t.Errorf("endpoint zones %+v, name %q", one.Zones, one.Name)
	}
	if _, err := s.Provider.AcceptConnection(ctx, s.Service.ServiceID, one.EndpointID); err != nil {
		t.Fatal(err)
	}
	one = waitActive(t, b, one.EndpointID)
	expectAnswer(t, e, n.Hosts[0].HostID, netip.AddrPortFrom(one.Zones[0].IP, 6001), "db-")
}

// TestErrors: a bad spec fails with the resource named, before or at the
// API, and the progress callback is optional.
func TestErrors(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback"})
	ctx := context.Background()
	b, err := scenario.NewBuilder(ctx, e.Admin, "p", "c")
	must(t, err)
	zone := e.Config().Zones[0]
	for _, tc := range []struct {
		name string
		spec scenario.NetworkSpec
		want string
	}{
		{"subnet outside", scenario.NetworkSpec{Name: "a", CIDR: "10.9.0.0/16", VSwitches: []scenario.VSwitchSpec{{ZoneID: zone, Subnet: 300}}}, "out of range"},
		{"host without vSwitch", scenario.NetworkSpec{Name: "b", CIDR: "10.9.0.0/16", Hosts: []scenario.HostSpec{{Name: "h"}}}, "no vSwitch #0"},
		{"unknown zone", scenario.NetworkSpec{Name: "c", CIDR: "10.9.0.0/16", VSwitches: []scenario.VSwitchSpec{{ZoneID: "nowhere", Subnet: 1}}}, "vSwitch 10.9.1.0/24 in nowhere"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.Network(ctx, scenario.ProviderSide, tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// serveName answers every line with name.
func serveName(t *testing.T, e *testenv.Env, hostID string, port uint16, name string) {
	e.Serve(t, hostID, port, func(c net.Conn) {
		if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
			io.WriteString(c, name+"\n")
		}
	})
}

// expectAnswer dials addr from inside a host until a server answers with
// a line starting with prefix.
func expectAnswer(t *testing.T, e *testenv.Env, hostID string, addr netip.AddrPort, prefix string) {
	t.Helper()
	testenv.Eventually(t, "answer via "+addr.String(), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := e.Driver.Sockets.DialHost(ctx, hostID, addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, "hi\n"); err != nil {
			return err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil && !strings.HasPrefix(line, prefix) {
			err = fmt.Errorf("answer %q", line)
		}
		return err
	})
}
