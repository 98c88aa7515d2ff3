package testenv

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

// Scenario is the canonical two-account, two-zone topology.
type Scenario struct {
	Provider, Consumer     *client.Client
	ProviderID, ConsumerID string
	ProviderVPC            model.VPC
	ProviderHosts          []model.Host // one per zone
	Service                model.EndpointService
	ConsumerVPC            model.VPC
	ConsumerVSwitches      []model.VSwitch // one per zone
	SG                     model.SecurityGroup
	ConsumerHost           model.Host // in the first zone
	Endpoint               model.Endpoint
}

// ScenarioOptions shape the service.
type ScenarioOptions struct {
	CIDR          string // both VPCs use it (overlap on purpose); default 192.168.0.0/16
	Port          int    // default 6001
	AutoAccept    bool
	ZoneAffinity  bool
	ProxyProtocol bool
	NoEndpoint    bool
	NoSGRule      bool
}

// BuildScenario creates it all through the API; the endpoint is created but not waited for.
func BuildScenario(t testing.TB, e *Env, o ScenarioOptions) *Scenario {
	t.Helper()
	if o.CIDR == "" {
		o.CIDR = "192.168.0.0/16"
	}
	if o.Port == 0 {
		o.Port = 6001
	}
	ctx := context.Background()
	s := &Scenario{}
	s.Provider, s.ProviderID = e.Account(t, "provider")
	s.Consumer, s.ConsumerID = e.Account(t, "consumer")
	zones := e.Config().Zones
	var err error
	s.ProviderVPC, err = s.Provider.CreateVPC(ctx, api.CreateVPCRequest{Name: "provider-vpc", CidrBlock: o.CIDR})
	must(t, err)
	var backends []api.BackendSpec
	for i, z := range zones {
		vsw, err := s.Provider.CreateVSwitch(ctx, api.CreateVSwitchRequest{VpcID: s.ProviderVPC.VpcID, ZoneID: z, CidrBlock: subnet(o.CIDR, i+1)})
		must(t, err)
		h, err := s.Provider.CreateHost(ctx, api.CreateHostRequest{VSwitchID: vsw.VSwitchID, Name: "db-" + z})
		must(t, err)
		s.ProviderHosts = append(s.ProviderHosts, h)
		backends = append(backends, api.BackendSpec{ZoneID: z, IP: h.IP.String(), Port: o.Port})
	}
	s.Service, err = s.Provider.CreateService(ctx, api.CreateServiceRequest{
		Description: "sample database", VpcID: s.ProviderVPC.VpcID, Ports: []int{o.Port}, Resources: backends,
		AutoAcceptEnabled: o.AutoAccept, ZoneAffinityEnabled: o.ZoneAffinity, ProxyProtocol: o.ProxyProtocol,
		AllowedAccounts: []string{s.ConsumerID},
	})
	must(t, err)
	s.ConsumerVPC, err = s.Consumer.CreateVPC(ctx, api.CreateVPCRequest{Name: "consumer-vpc", CidrBlock: o.CIDR})
	must(t, err)
	var zreq []api.EndpointZoneRequest
	for i, z := range zones {
		vsw, err := s.Consumer.CreateVSwitch(ctx, api.CreateVSwitchRequest{VpcID: s.ConsumerVPC.VpcID, ZoneID: z, CidrBlock: subnet(o.CIDR, i+1)})
		must(t, err)
		s.ConsumerVSwitches = append(s.ConsumerVSwitches, vsw)
		zreq = append(zreq, api.EndpointZoneRequest{ZoneID: z, VSwitchID: vsw.VSwitchID})
	}
	sgReq := api.CreateSecurityGroupRequest{VpcID: s.ConsumerVPC.VpcID, Name: "sg-db"}
	if !o.NoSGRule {
		sgReq.Rules = []model.SecurityGroupRule{{Protocol: "tcp", PortRange: itoa(o.Port) + "/" + itoa(o.Port), SourceCidr: o.CIDR, Policy: "accept", Priority: 1}}
	}
	s.SG, err = s.Consumer.CreateSecurityGroup(ctx, sgReq)
	must(t, err)
	s.ConsumerHost, err = s.Consumer.CreateHost(ctx, api.CreateHostRequest{VSwitchID: s.ConsumerVSwitches[0].VSwitchID, Name: "app"})
	must(t, err)
	if !o.NoEndpoint {
		s.Endpoint, err = s.Consumer.CreateEndpoint(ctx, api.CreateEndpointRequest{
			ServiceName: s.Service.Name, VpcID: s.ConsumerVPC.VpcID, SecurityGroupIDs: []string{s.SG.SecurityGroupID}, Zones: zreq,
		})
		must(t, err)
	}
	return s
}

// WaitEndpoint polls until cond holds for the consumer's view of the endpoint.
func (s *Scenario) WaitEndpoint(t testing.TB, cond func(model.Endpoint) bool) model.Endpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ep, err := s.Consumer.WaitEndpoint(ctx, s.Endpoint.EndpointID, cond, nil)
	if err != nil {
		t.Fatalf("endpoint never reached the wanted state: %v; last: %+v", err, ep)
	}
	return ep
}

// Active is a WaitEndpoint condition.
var Active = client.Active

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// subnet returns the i-th /24 of a /16 (x.y.i.0/24).
func subnet(cidr string, i int) string {
	p := cidr[:len(cidr)-len("0.0/16")]
	return p + itoa(i) + ".0/24"
}

func itoa(i int) string { return strconv.Itoa(i) }

// Eventually retries f every 50ms for up to 10s and fails the test with
// f's last error if it never succeeds.
func Eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// Serve runs a TCP server inside a host on port, handling each connection
// with handle (which need not close it), until the test ends.
func (e *Env) Serve(t testing.TB, hostID string, port uint16, handle func(net.Conn)) {
	t.Helper()
	hs := e.Driver.Sockets
	var ln net.Listener
	Eventually(t, "listen in host "+hostID, func() (err error) {
		ln, err = hs.ListenHost(hostID, netip.AddrPortFrom(netip.IPv4Unspecified(), port))
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
}
