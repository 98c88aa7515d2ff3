package scenario

// Options shape the canonical scenario; the zero value (with Zones) is the
// one most tests use.
type Options struct {
	Zones         []string // a vSwitch per zone on both sides, a backend host per zone
	CIDR          string   // the provider's VPC; default 192.168.0.0/16
	ConsumerCIDR  string   // default CIDR: the VPCs overlap on purpose
	Port          int      // the service's port and the backends'; default 6001
	AutoAccept    bool
	ZoneAffinity  bool
	ProxyProtocol bool
	NoSGRule      bool // the security group has no rule (drops everything)
	NoEndpoint    bool
	UDPPorts      []int  // UDP ports of the service, accepted from the consumer's CIDR by the security group
	Forwarding    string // the service's forwarding mode: proxy (""), nat or auto
	// DualStack makes both VPCs dual-stack and the service dualstack; the
	// security group also accepts the ports from the consumer VPC's IPv6
	// /56. IPv6Backends: the backends are the provider hosts' IPv6
	// addresses (needs DualStack).
	DualStack, IPv6Backends bool
}

// Canonical is the plan of the canonical scenario: the provider's VPC with
// a vSwitch (x.y.1.0/24, x.y.2.0/24, ...) and a host "db-<zone>" in each
// zone, a service on Port with those hosts as backends, the consumer's VPC
// with the same vSwitches, a security group "sg-db" accepting Port from
// the consumer's CIDR, a host "app" in the first zone, and an endpoint in
// every zone. Callers may rename things in the plan it returns.
func Canonical(o Options) Plan {
	if o.CIDR == "" {
		o.CIDR = "192.168.0.0/16"
	}
	if o.ConsumerCIDR == "" {
		o.ConsumerCIDR = o.CIDR
	}
	if o.Port == 0 {
		o.Port = 6001
	}
	vsws := PerZone(o.Zones, 1)
	sg := &SecurityGroupSpec{Name: "sg-db"}
	if !o.NoSGRule {
		sg.Rules = append(sg.Rules, AcceptTCP(o.Port, o.Port, o.ConsumerCIDR))
		for _, p := range o.UDPPorts {
			r := AcceptTCP(p, p, o.ConsumerCIDR)
			r.Protocol = "udp"
			sg.Rules = append(sg.Rules, r)
		}
	}
	p := Plan{
		Provider: NetworkSpec{Name: "provider-vpc", CIDR: o.CIDR, VSwitches: vsws, Hosts: HostPerVSwitch("db-", vsws)},
		Service: ServiceSpec{Description: "sample database", Ports: []int{o.Port}, UDPPorts: o.UDPPorts, BackendPort: o.Port,
			AutoAccept: o.AutoAccept, ZoneAffinity: o.ZoneAffinity, ProxyProtocol: o.ProxyProtocol, Forwarding: o.Forwarding},
		Consumer: NetworkSpec{Name: "consumer-vpc", CIDR: o.ConsumerCIDR, VSwitches: PerZone(o.Zones, 1), SecurityGroup: sg, Hosts: []HostSpec{{Name: "app"}}},
	}
	if o.DualStack {
		p.Provider.IPv6, p.Consumer.IPv6 = true, true
		p.Service.AddressIPVersion, p.Service.IPv6Backends = "dualstack", o.IPv6Backends
		if !o.NoSGRule {
			for _, r := range sg.Rules {
				r.SourceCidr = "fc00::/7" // the consumer VPC's /56 is chosen at creation: every ULA
				sg.Rules = append(sg.Rules, r)
			}
		}
	}
	if len(o.UDPPorts) > 0 {
		p.Service.BackendPort = 0 // several ports: each maps to the same port of the backend
	}
	if !o.NoEndpoint {
		p.Endpoint = &EndpointSpec{}
	}
	return p
}
