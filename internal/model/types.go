package model

import "net/netip"

// Resource states.
const (
	StatusCreating  = "Creating"
	StatusActive    = "Active"
	StatusPending   = "Pending"
	StatusDeleting  = "Deleting"
	StatusAvailable = "Available"

	ConnPending        = "Pending"
	ConnConnecting     = "Connecting"
	ConnConnected      = "Connected"
	ConnDisconnecting  = "Disconnecting"
	ConnDisconnected   = "Disconnected"
	ConnRejected       = "Rejected"
	ConnDeleting       = "Deleting"
	ConnServiceDeleted = "ServiceDeleted"

	ZoneCreating     = "Creating"
	ZoneConnected    = "Connected"
	ZoneDisconnected = "Disconnected"
	ZoneUnavailable  = "Unavailable"
)

// Account owns resources and authenticates with bearer tokens.
type Account struct {
	AccountID  string `json:"accountId"`
	Name       string `json:"name"`
	CreateTime string `json:"createTime"`
	// TokenHashes are hex SHA-256 digests of the account's tokens; never returned by the API.
	TokenHashes []string `json:"tokenHashes,omitempty"`
}

// VPC is a consumer or provider network: a network namespace acting as its router.
type VPC struct {
	VpcID     string `json:"vpcId"`
	AccountID string `json:"accountId"`
	Name      string `json:"vpcName"`
	// Description is free text (at most MaxDescription bytes).
	Description string       `json:"description,omitempty"`
	CidrBlock   netip.Prefix `json:"cidrBlock"`
	NetnsPath   string       `json:"netnsPath,omitempty"`
	// VNI is the VXLAN network identifier joining the VPC's copies on
	// several nodes, unique in the region; 0 on records from before nodes.
	VNI int `json:"vni,omitempty"`
	// Ipv6CidrBlock is the VPC's IPv6 /56 (a ULA prefix); zero: IPv4 only.
	Ipv6CidrBlock netip.Prefix `json:"ipv6CidrBlock,omitzero"`
	Status        string       `json:"status"`
	CreateTime    string       `json:"createTime"`
	ClientToken   string       `json:"-"`
	Tagging
}

// VSwitch is a subnet of a VPC in one zone: a bridge in the VPC namespace.
type VSwitch struct {
	VSwitchID string       `json:"vSwitchId"`
	AccountID string       `json:"accountId"`
	VpcID     string       `json:"vpcId"`
	ZoneID    string       `json:"zoneId"`
	Name      string       `json:"vSwitchName"`
	CidrBlock netip.Prefix `json:"cidrBlock"`
	Gateway   netip.Addr   `json:"gatewayIp"`
	// Ipv6CidrBlock is the vSwitch's /64 of its VPC's /56 and Ipv6Gateway
	// its ::1; zero: IPv4 only.
	Ipv6CidrBlock netip.Prefix `json:"ipv6CidrBlock,omitzero"`
	Ipv6Gateway   netip.Addr   `json:"ipv6GatewayIp,omitzero"`
	Status        string       `json:"status"`
	CreateTime    string       `json:"createTime"`
	Tagging
}

// SecurityGroupRule is one inbound rule.
type SecurityGroupRule struct {
	Protocol  string `json:"ipProtocol"` // tcp | udp | all
	PortRange string `json:"portRange"`  // "6001/6001" or "1/65535"
	// SourceCidr is an IPv4 or IPv6 prefix: 0.0.0.0/0 matches IPv4
	// sources only, ::/0 IPv6 ones.
	SourceCidr string `json:"sourceCidrIp"`
	Policy     string `json:"policy"`   // accept | drop
	Priority   int    `json:"priority"` // 1 (highest) .. 100
}

// SecurityGroup guards endpoint ENIs; no matching rule means drop.
type SecurityGroup struct {
	SecurityGroupID string              `json:"securityGroupId"`
	AccountID       string              `json:"accountId"`
	VpcID           string              `json:"vpcId"`
	Name            string              `json:"securityGroupName"`
	Rules           []SecurityGroupRule `json:"rules"`
	CreateTime      string              `json:"createTime"`
	Tagging
}

// Host is an ECS-like machine: a namespace on a veth into its vSwitch.
type Host struct {
	HostID    string     `json:"hostId"`
	AccountID string     `json:"accountId"`
	Name      string     `json:"hostName"`
	VpcID     string     `json:"vpcId"`
	VSwitchID string     `json:"vSwitchId"`
	ZoneID    string     `json:"zoneId"`
	IP        netip.Addr `json:"privateIpAddress"`
	// Ipv6Address is the host's address in its vSwitch's /64; zero on
	// an IPv4-only vSwitch.
	Ipv6Address netip.Addr `json:"ipv6Address,omitzero"`
	Netns       string     `json:"netns,omitempty"`
	// NodeName is the node the host lives on; empty on records from
	// before nodes (they belong to the node in meta/defaultnode).
	NodeName   string `json:"nodeName,omitempty"`
	Status     string `json:"status"`
	CreateTime string `json:"createTime"`
}

// Backend is one service resource reached in the provider's network.
type Backend struct {
	ZoneID string     `json:"zoneId"`
	IP     netip.Addr `json:"ip"`
	Port   int        `json:"port"`
	// Health is filled in responses to the owner from the zone agents'
	// checks: Healthy, Unhealthy or Unknown (no agent checks it yet).
	Health string `json:"health,omitempty"`
}

// EndpointService is what a provider publishes.
type EndpointService struct {
	ServiceID     string `json:"serviceId"`
	AccountID     string `json:"accountId"`
	Name          string `json:"serviceName"`
	Description   string `json:"serviceDescription"`
	ServiceDomain string `json:"serviceDomain"`
	RegionID      string `json:"regionId"`
	VpcID         string `json:"vpcId,omitempty"`
	Ports         []int  `json:"ports"`
	// UDPPorts are the service's UDP listener ports (Alibaba's listener
	// protocol "udp"; Ports are TCP). A port number may be in both.
	// UDPIdleTimeout is how long a UDP flow lives without datagrams
	// (seconds; 0 = 60). UDPHealthCheckReq and UDPHealthCheckExp are the
	// optional probe payload and the text its reply must contain (Alibaba
	// NLB's HealthCheckReq/HealthCheckExp); without them a UDP backend is
	// down only when it answers ICMP port unreachable.
	UDPPorts          []int     `json:"udpPorts,omitempty"`
	UDPIdleTimeout    int       `json:"udpIdleTimeoutSeconds,omitempty"`
	UDPHealthCheckReq string    `json:"udpHealthCheckReq,omitempty"`
	UDPHealthCheckExp string    `json:"udpHealthCheckExp,omitempty"`
	Resources         []Backend `json:"resources"`
	// AddressIPVersion is the service's address families: AddressIPv4
	// or AddressDualStack (endpoints also get IPv6 ENIs); "" on records
	// from before the choice means ipv4. Use DualStack/IPVersion.
	AddressIPVersion    string   `json:"addressIpVersion,omitempty"`
	Zones               []string `json:"zoneIds"`
	AutoAcceptEnabled   bool     `json:"autoAcceptEnabled"`
	ZoneAffinityEnabled bool     `json:"zoneAffinityEnabled"`
	ProxyProtocol       bool     `json:"proxyProtocolEnabled"`
	// ProxyProtocolTLVs are the TLVs sent with the PROXY header
	// (TLV* names); nil on records from before the choice existed means
	// DefaultProxyTLVs, empty means none. Use ProxyTLVs().
	ProxyProtocolTLVs []string `json:"proxyProtocolTlvs"`
	ConnectBandwidth  int      `json:"connectBandwidth"` // Mbps per direction per endpoint, shared by its connections (all ports; all zones one privlink process serves); 0 = unlimited
	IdleTimeout       int      `json:"idleTimeoutSeconds"`
	AllowedAccounts   []string `json:"allowedAccounts"`
	Status            string   `json:"serviceStatus"`
	CreateTime        string   `json:"createTime"`
	Tagging
	// MaxConnsPerEndpoint caps each endpoint's concurrent connections
	// (counted like ConnectBandwidth); NewConnsPerSecond its new
	// connections per second (burst: one second's worth). 0 = the
	// server's default (--endpoint-max-connections,
	// --endpoint-new-connections-per-second). Excess is reset.
	MaxConnsPerEndpoint int `json:"maxConnectionsPerEndpoint"`
	NewConnsPerSecond   int `json:"newConnectionsPerSecond"`
	// LoadBalancerIDs are the load balancers attached to the service: when
	// any is, Ports, Zones and Resources are theirs (set at attach and
	// detach); none means the backends were given directly.
	LoadBalancerIDs []string `json:"loadBalancerIds,omitempty"`
	// Forwarding is proxy, nat or auto (forwarding.go); "" on records
	// from before the choice existed means proxy.
	Forwarding string `json:"forwarding,omitempty"`
}

// EndpointZone is an endpoint's presence in one zone: an ENI on a vSwitch.
type EndpointZone struct {
	ZoneID    string     `json:"zoneId"`
	VSwitchID string     `json:"vSwitchId"`
	IP        netip.Addr `json:"ip"`
	// Ipv6Address is the zone's IPv6 ENI address in the vSwitch's /64:
	// given at creation when the service is dual-stack and the vSwitch
	// has a /64; zero otherwise. It serves only while the service is
	// dual-stack (ServesIPv6).
	Ipv6Address netip.Addr `json:"ipv6Address,omitzero"`
	EniID       string     `json:"eniId"`
	ZoneDomain  string     `json:"zoneDomain"`
	ZoneStatus  string     `json:"zoneStatus"`
	// ConnectionDisabled: the provider has disabled this zone's
	// connection (Alibaba's DisableVpcEndpointZoneConnection): the zone
	// carries no traffic and leaves DNS while the other zones serve.
	ConnectionDisabled bool `json:"connectionDisabled,omitempty"`
	// ResourceID pins the zone to one of the service's resources in the
	// zone (Alibaba's UpdateVpcEndpointZoneConnectionResourceAttribute): a
	// backend "IP:PORT" or an attached load balancer's ID; "" = all.
	// ResourceBackends are that resource's backends in the zone when it
	// was pinned: the zone's agent dials only those of them the service
	// still has (none left: the pin is void and all serve).
	ResourceID       string    `json:"resourceId,omitempty"`
	ResourceBackends []Backend `json:"resourceBackends,omitempty"`
	// SnatIP is the source address the provider sees for this endpoint
	// zone's connections under kernel NAT forwarding: allocated from
	// SNATPool by the control plane with the zone, the same on every agent
	// and across restarts (invalid on records from before it). One per
	// zone: the provider's router tells the zones' flows apart by it.
	SnatIP netip.Addr `json:"snatIp,omitzero"`
}

// Pinned returns the backends of all (a service's resources) that z's
// pinned resource allows: all when z is not pinned or when none of the
// pinned backends is still one of the service's.
func (z EndpointZone) Pinned(all []Backend) []Backend {
	if z.ResourceID == "" {
		return all
	}
	var out []Backend
	for _, b := range all {
		for _, p := range z.ResourceBackends {
			if b.ZoneID == p.ZoneID && b.IP == p.IP && b.Port == p.Port {
				out = append(out, b)
				break
			}
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}

// Endpoint is an interface endpoint in a consumer VPC.
type Endpoint struct {
	EndpointID string `json:"endpointId"`
	AccountID  string `json:"accountId"`
	Name       string `json:"endpointName"`
	// Description is free text (at most MaxDescription bytes).
	Description      string         `json:"endpointDescription,omitempty"`
	ServiceID        string         `json:"serviceId"`
	ServiceName      string         `json:"serviceName"`
	VpcID            string         `json:"vpcId"`
	SecurityGroupIDs []string       `json:"securityGroupIds"`
	Zones            []EndpointZone `json:"zones"`
	EndpointDomain   string         `json:"endpointDomain"`
	EndpointStatus   string         `json:"endpointStatus"`
	ConnectionStatus string         `json:"connectionStatus"`
	RegionID         string         `json:"regionId"`
	CreateTime       string         `json:"createTime"`
	// ConnectionBandwidth is the provider's cap for this endpoint's
	// connection (Mbps each direction, shared by its connections like the
	// service's connectBandwidth, which applies when it is 0).
	ConnectionBandwidth int `json:"connectionBandwidth,omitempty"`
	Tagging
}

// Bandwidth is the cap in Mbps that applies to ep's connection to svc (0:
// unlimited): the provider's per-connection setting, else the service's.
func (ep *Endpoint) Bandwidth(svc *EndpointService) int {
	if ep.ConnectionBandwidth > 0 {
		return ep.ConnectionBandwidth
	}
	return svc.ConnectBandwidth
}

// ZoneReport is what a zone agent writes (under its lease) for each endpoint zone it serves.
type ZoneReport struct {
	EndpointID string `json:"endpointId"`
	ZoneID     string `json:"zoneId"`
	Ready      bool   `json:"ready"`
	Healthy    bool   `json:"healthy"` // at least one healthy backend reachable
	Error      string `json:"error,omitempty"`
	// Backends maps each backend "ip:port" to its health as checked from this zone.
	Backends map[string]bool `json:"backends,omitempty"`
	// Node and Epoch say which node wrote the report and under which
	// placement (the eniplace key's mod revision); empty from zone agents
	// (a region without nodes).
	Node  string `json:"node,omitempty"`
	Epoch int64  `json:"epoch,omitempty"`
}

// AgentInfo is a zone agent's liveness record (under its lease).
type AgentInfo struct {
	ZoneID   string `json:"zoneId"`
	Hostname string `json:"hostname"`
	Started  string `json:"started"`
	Synced   bool   `json:"synced"`
	Network  string `json:"network"`
}
