package api

import "github.com/privlink/privlink/internal/model"

// CreateAccountRequest creates an account (admin only).
type CreateAccountRequest struct {
	Name        string `json:"name"`
	ClientToken string `json:"clientToken,omitempty"`
	DryRun      bool   `json:"dryRun,omitempty"`
}

// CreateVPCRequest creates a VPC.
type CreateVPCRequest struct {
	Name        string `json:"vpcName"`
	Description string `json:"description,omitempty"`
	CidrBlock   string `json:"cidrBlock"`
	// EnableIpv6 gives the VPC an IPv6 /56 the control plane chooses (a
	// random ULA prefix unique in the region); Ipv6CidrBlock gives it the
	// caller's own /56 inside fc00::/7 instead (implies EnableIpv6).
	EnableIpv6    bool   `json:"enableIpv6,omitempty"`
	Ipv6CidrBlock string `json:"ipv6CidrBlock,omitempty"`
	NetnsPath     string `json:"netnsPath,omitempty"`
	ClientToken   string `json:"clientToken,omitempty"`
	DryRun        bool   `json:"dryRun,omitempty"`

	// Tags and ResourceGroupID label the new resource (at most 20 tags).
	Tags            []Tag  `json:"tags,omitempty"`
	ResourceGroupID string `json:"resourceGroupId,omitempty"`
}

// AllocateVpcIpv6CidrRequest gives an IPv4-only VPC an IPv6 /56: the
// caller's (inside fc00::/7) or, empty, one the control plane chooses.
type AllocateVpcIpv6CidrRequest struct {
	Ipv6CidrBlock string `json:"ipv6CidrBlock,omitempty"`
}

// CreateVSwitchRequest creates a vSwitch.
type CreateVSwitchRequest struct {
	VpcID     string `json:"vpcId"`
	ZoneID    string `json:"zoneId"`
	CidrBlock string `json:"cidrBlock"`
	// Ipv6CidrBlock is the index (0-255) of the vSwitch's /64 in its VPC's
	// IPv6 /56, as Alibaba's CreateVSwitch; EnableIpv6 alone takes the
	// lowest free one. Neither: the vSwitch is IPv4 only.
	Ipv6CidrBlock *int   `json:"ipv6CidrBlock,omitempty"`
	EnableIpv6    bool   `json:"enableIpv6,omitempty"`
	Name          string `json:"vSwitchName"`
	ClientToken   string `json:"clientToken,omitempty"`
	DryRun        bool   `json:"dryRun,omitempty"`

	// Tags and ResourceGroupID label the new resource (at most 20 tags).
	Tags            []Tag  `json:"tags,omitempty"`
	ResourceGroupID string `json:"resourceGroupId,omitempty"`
}

// CreateSecurityGroupRequest creates a security group.
type CreateSecurityGroupRequest struct {
	VpcID       string              `json:"vpcId"`
	Name        string              `json:"securityGroupName"`
	Rules       []SecurityGroupRule `json:"rules,omitempty"`
	ClientToken string              `json:"clientToken,omitempty"`
	DryRun      bool                `json:"dryRun,omitempty"`

	// Tags and ResourceGroupID label the new resource (at most 20 tags).
	Tags            []Tag  `json:"tags,omitempty"`
	ResourceGroupID string `json:"resourceGroupId,omitempty"`
}

// RulesRequest adds (authorize) or removes (revoke) inbound rules.
type RulesRequest struct {
	Rules  []SecurityGroupRule `json:"rules"`
	DryRun bool                `json:"dryRun,omitempty"`
}

// CreateHostRequest creates an ECS-like host on a vSwitch.
type CreateHostRequest struct {
	VSwitchID string `json:"vSwitchId"`
	IP        string `json:"privateIpAddress,omitempty"`
	// Ipv6Address chooses the host's IPv6 address in a dual-stack
	// vSwitch (default: the lowest free one).
	Ipv6Address string `json:"ipv6Address,omitempty"`
	Name        string `json:"hostName,omitempty"`
	// NodeName places the host on that node; by default the
	// least loaded ready node of the vSwitch's zone.
	NodeName    string `json:"nodeName,omitempty"`
	ClientToken string `json:"clientToken,omitempty"`
	DryRun      bool   `json:"dryRun,omitempty"`
}

// MaxEndpointConnLimit bounds a service's maxConnectionsPerEndpoint and
// newConnectionsPerSecond.
const MaxEndpointConnLimit = 1000000

// CreateServiceRequest publishes an endpoint service.
type CreateServiceRequest struct {
	Description string `json:"serviceDescription,omitempty"`
	VpcID       string `json:"vpcId,omitempty"`
	Ports       []int  `json:"ports"`
	// UDPPorts are UDP listener ports (Alibaba's listener protocol udp);
	// a service may mix them with Ports (TCP), also on the same number.
	// UDPIdleTimeout: seconds a UDP flow lives without datagrams (0 =
	// 60). UDPHealthCheckReq/Exp: optional UDP probe payload and the text
	// the reply must contain (1 to 500 characters each).
	UDPPorts          []int         `json:"udpPorts,omitempty"`
	UDPIdleTimeout    int           `json:"udpIdleTimeoutSeconds,omitempty"`
	UDPHealthCheckReq string        `json:"udpHealthCheckReq,omitempty"`
	UDPHealthCheckExp string        `json:"udpHealthCheckExp,omitempty"`
	Resources         []BackendSpec `json:"resources"`
	// AddressIPVersion is ipv4 (default) or dualstack: endpoints in
	// dual-stack vSwitches then also get an IPv6 ENI and AAAA records
	// (Alibaba's AddressIpVersion IPv4 | DualStack, any case).
	AddressIPVersion string `json:"addressIpVersion,omitempty"`
	// LoadBalancerIDs are load balancers of the VPC to attach instead of
	// Resources: the service takes their ports, zones and backends.
	LoadBalancerIDs     []string `json:"loadBalancerIds,omitempty"`
	AutoAcceptEnabled   bool     `json:"autoAcceptEnabled,omitempty"`
	ZoneAffinityEnabled bool     `json:"zoneAffinityEnabled,omitempty"`
	ProxyProtocol       bool     `json:"proxyProtocolEnabled,omitempty"`
	// ProxyProtocolTLVs chooses the TLVs sent with the PROXY header
	// (vpcId, endpointId, serviceId); absent: vpcId and endpointId,
	// which every common receiver accepts; [] sends none.
	ProxyProtocolTLVs   []string `json:"proxyProtocolTlvs"`
	ConnectBandwidth    int      `json:"connectBandwidth,omitempty"` // Mbps per direction per endpoint, shared by its connections; 0 = unlimited
	IdleTimeout         int      `json:"idleTimeoutSeconds,omitempty"`
	MaxConnsPerEndpoint int      `json:"maxConnectionsPerEndpoint,omitempty"` // concurrent connections per endpoint; 0 = server default
	NewConnsPerSecond   int      `json:"newConnectionsPerSecond,omitempty"`   // new connections per second per endpoint; 0 = server default
	AllowedAccounts     []string `json:"allowedAccounts,omitempty"`
	// Forwarding is proxy (default), nat (kernel NAT; not with the PROXY
	// protocol or per-endpoint connection limits) or auto (nat unless the
	// service needs the proxy). See docs/forwarding.md.
	Forwarding  string `json:"forwarding,omitempty"`
	ClientToken string `json:"clientToken,omitempty"`
	DryRun      bool   `json:"dryRun,omitempty"`

	// Tags and ResourceGroupID label the new resource (at most 20 tags).
	Tags            []Tag  `json:"tags,omitempty"`
	ResourceGroupID string `json:"resourceGroupId,omitempty"`
}

// BackendSpec is one backend of a service to create: an address in the
// provider's VPC (a usable address of one of its vSwitches in that zone),
// or on the host network for the admin. Port 0 means the listener port.
type BackendSpec struct {
	ZoneID string `json:"zoneId"`
	IP     string `json:"ip"`
	Port   int    `json:"port,omitempty"`
	// Health is response-only and ignored here (a service read back can be
	// sent again).
	Health string `json:"health,omitempty"`
}

// ParseBackend parses the CLI's and console's ZONE=IP[:PORT].
func ParseBackend(s string) (BackendSpec, error) {
	b, err := model.ParseBackend(s)
	return BackendSpec{ZoneID: b.ZoneID, IP: b.IP.String(), Port: b.Port}, err
}

// UpdateServiceRequest changes a service's attributes; absent fields stay.
type UpdateServiceRequest struct {
	Description         *string `json:"serviceDescription,omitempty"`
	AutoAcceptEnabled   *bool   `json:"autoAcceptEnabled,omitempty"`
	ZoneAffinityEnabled *bool   `json:"zoneAffinityEnabled,omitempty"`
	ProxyProtocol       *bool   `json:"proxyProtocolEnabled,omitempty"`
	// ProxyProtocolTLVs replaces the TLV choice; [] sends none.
	ProxyProtocolTLVs   *[]string `json:"proxyProtocolTlvs,omitempty"`
	ConnectBandwidth    *int      `json:"connectBandwidth,omitempty"`
	IdleTimeout         *int      `json:"idleTimeoutSeconds,omitempty"`
	MaxConnsPerEndpoint *int      `json:"maxConnectionsPerEndpoint,omitempty"`
	NewConnsPerSecond   *int      `json:"newConnectionsPerSecond,omitempty"`
	// UDPIdleTimeout: seconds a UDP flow lives without datagrams (0: 60).
	UDPIdleTimeout *int `json:"udpIdleTimeoutSeconds,omitempty"`
	// Forwarding: proxy, nat or auto.
	Forwarding *string `json:"forwarding,omitempty"`
	// AddressIPVersion switches the service between ipv4 and dualstack:
	// zones given an IPv6 ENI while it was dual-stack serve IPv6 again when
	// it is; new endpoints' zones get one only while it is.
	AddressIPVersion *string `json:"addressIpVersion,omitempty"`
}

// ZoneResourceRequest pins one zone of a connection to one resource.
type ZoneResourceRequest struct {
	// ResourceID is a backend "IP:PORT" or a load balancer ID of the
	// service in the zone; "" unpins the zone (all resources serve it).
	ResourceID string `json:"resourceId"`
}

// UpdateConnectionRequest changes a connection's attributes (provider).
type UpdateConnectionRequest struct {
	// Bandwidth caps this endpoint's traffic in Mbps each direction,
	// shared by its connections (0-10240; 0: the service's connectBandwidth).
	Bandwidth *int `json:"bandwidth,omitempty"`
}

// AllowRequest adds an account to a service's allow-list.
type AllowRequest struct {
	AccountID string `json:"accountId"`
}

// EndpointZoneRequest places the endpoint in one zone.
type EndpointZoneRequest struct {
	ZoneID    string `json:"zoneId"`
	VSwitchID string `json:"vSwitchId"`
	IP        string `json:"ip,omitempty"`
	// Ipv6Address asks for this IPv6 ENI address (in the vSwitch's /64)
	// for a dual-stack service; "" = the lowest free one.
	Ipv6Address string `json:"ipv6Address,omitempty"`
}

// CreateEndpointRequest creates an interface endpoint.
type CreateEndpointRequest struct {
	ServiceID        string                `json:"serviceId,omitempty"`
	ServiceName      string                `json:"serviceName,omitempty"`
	VpcID            string                `json:"vpcId"`
	SecurityGroupIDs []string              `json:"securityGroupIds"`
	Zones            []EndpointZoneRequest `json:"zones"`
	Name             string                `json:"endpointName,omitempty"`
	Description      string                `json:"endpointDescription,omitempty"`
	ClientToken      string                `json:"clientToken,omitempty"`
	DryRun           bool                  `json:"dryRun,omitempty"`

	// Tags and ResourceGroupID label the new resource (at most 20 tags).
	Tags            []Tag  `json:"tags,omitempty"`
	ResourceGroupID string `json:"resourceGroupId,omitempty"`
}

// CreateNotificationRequest subscribes a webhook to the events of one of
// the caller's services or endpoints (exactly one of ServiceID, EndpointID).
type CreateNotificationRequest struct {
	ServiceID  string   `json:"serviceId,omitempty"`
	EndpointID string   `json:"endpointId,omitempty"`
	URL        string   `json:"url"`
	EventTypes []string `json:"eventTypes,omitempty"` // absent or empty: every type
}

// Validate checks the request's shape.
func (r CreateNotificationRequest) Validate() error {
	if (r.ServiceID == "") == (r.EndpointID == "") {
		return model.Invalid("Target", "give exactly one of serviceId and endpointId")
	}
	for _, t := range r.EventTypes {
		if !model.ValidEventType(t) {
			return model.Invalid("EventTypes", "unknown event type %q; the types are %v", t, model.EventTypes)
		}
	}
	return nil
}

// EndpointSecurityGroupRequest attaches a security group of the endpoint's
// VPC to an endpoint.
type EndpointSecurityGroupRequest struct {
	SecurityGroupID string `json:"securityGroupId"`
}

// UpdateEndpointRequest changes an endpoint's attributes; absent fields stay.
type UpdateEndpointRequest struct {
	Name        *string `json:"endpointName,omitempty"`
	Description *string `json:"endpointDescription,omitempty"`
}

// CreateLoadBalancerRequest creates a load balancer in one of the caller's
// VPCs: listener ports and backends, each a usable address of a vSwitch of
// the VPC in the backend's zone (as a service's backends).
type CreateLoadBalancerRequest struct {
	Name        string        `json:"loadBalancerName,omitempty"`
	VpcID       string        `json:"vpcId"`
	Ports       []int         `json:"ports"`
	Backends    []BackendSpec `json:"backends"`
	ClientToken string        `json:"clientToken,omitempty"`
	DryRun      bool          `json:"dryRun,omitempty"`
}

// ServiceLoadBalancerRequest attaches a load balancer to a service.
type ServiceLoadBalancerRequest struct {
	LoadBalancerID string `json:"loadBalancerId"`
	DryRun         bool   `json:"dryRun,omitempty"`
}
