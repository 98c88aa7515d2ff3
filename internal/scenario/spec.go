package scenario

import (
	"fmt"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
)

// NetworkSpec describes one VPC and what goes in it.
type NetworkSpec struct {
	Name          string
	CIDR          string // the VPC's CIDR block, e.g. 192.168.0.0/16
	VSwitches     []VSwitchSpec
	SecurityGroup *SecurityGroupSpec // nil: none
	Hosts         []HostSpec
	// IPv6 makes the network dual-stack: the VPC gets a /56 and each
	// vSwitch its /64 number Subnet, so each host an IPv6 address too.
	IPv6 bool
}

// VSwitchSpec is one vSwitch: its zone and which /24 of the VPC's CIDR it
// takes (Subnet 3 of 10.1.0.0/16 is 10.1.3.0/24).
type VSwitchSpec struct {
	ZoneID string
	Subnet int
}

// HostSpec is one host, on the network's VSwitch-th vSwitch; Node places
// it on that node of a region of several machines (empty: the API picks).
type HostSpec struct {
	Name    string
	VSwitch int
	Node    string
}

// SecurityGroupSpec is a security group with its inbound rules (none: every
// connection is dropped).
type SecurityGroupSpec struct {
	Name  string
	Rules []model.SecurityGroupRule
}

// ServiceSpec describes an endpoint service published from a provider
// network; it always allow-lists the Builder's consumer account.
type ServiceSpec struct {
	Description string
	Ports       []int // listener ports
	UDPPorts    []int // UDP listener ports
	// Backends default to one per host of the provider network, in the
	// host's zone, on BackendPort (0: the listener's port).
	Backends    []api.BackendSpec
	BackendPort int

	AutoAccept, ZoneAffinity, ProxyProtocol bool
	ProxyTLVs                               []string // nil: the default
	Forwarding                              string   // proxy (""), nat or auto
	// AddressIPVersion is ipv4 ("") or dualstack; IPv6Backends makes the
	// default backends the hosts' IPv6 addresses.
	AddressIPVersion string
	IPv6Backends     bool
}

// EndpointSpec describes an interface endpoint in a consumer network.
type EndpointSpec struct {
	Name string
	// VSwitches are the indexes of the network's vSwitches the endpoint
	// spans, one per zone; nil: all of them.
	VSwitches []int
}

// PerZone is one vSwitch per zone, on consecutive subnets from first.
func PerZone(zones []string, first int) []VSwitchSpec {
	out := make([]VSwitchSpec, len(zones))
	for i, z := range zones {
		out[i] = VSwitchSpec{ZoneID: z, Subnet: first + i}
	}
	return out
}

// HostPerVSwitch is one host on each vSwitch, named prefix + its zone.
func HostPerVSwitch(prefix string, vswitches []VSwitchSpec) []HostSpec {
	out := make([]HostSpec, len(vswitches))
	for i, v := range vswitches {
		out[i] = HostSpec{Name: prefix + v.ZoneID, VSwitch: i}
	}
	return out
}

// AcceptTCP is a rule accepting TCP ports from..to from source.
func AcceptTCP(from, to int, source string) model.SecurityGroupRule {
	return model.SecurityGroupRule{Protocol: "tcp", PortRange: fmt.Sprintf("%d/%d", from, to), SourceCidr: source, Policy: "accept", Priority: 1}
}
