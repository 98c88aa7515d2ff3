package api

import "github.com/privlink/privlink/internal/model"

// The resources as the API returns them.
type (
	Account           = model.Account
	VPC               = model.VPC
	VSwitch           = model.VSwitch
	SecurityGroup     = model.SecurityGroup
	SecurityGroupRule = model.SecurityGroupRule
	Host              = model.Host
	Backend           = model.Backend
	EndpointService   = model.EndpointService
	Endpoint          = model.Endpoint
	EndpointZone      = model.EndpointZone
	Event             = model.Event
	Notification      = model.Notification
	LoadBalancer      = model.LoadBalancer
)

// List is the body of every list response, one page of items.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextToken  string `json:"nextToken,omitempty"`
	TotalCount int    `json:"totalCount"`
}

// AccountWithToken is an account; Token is set only in the answer to the
// create that made it or the rotation that replaced it (tokens are stored
// hashed).
type AccountWithToken struct {
	model.Account
	Token string `json:"token,omitempty"`
	// TokenFile is the file on the server that now holds Token: set when
	// the admin rotated its own token and the answering server keeps
	// <data-dir>/admin.token.
	TokenFile string `json:"tokenFile,omitempty"`
}

// Caller is the account a token belongs to (GET /v1/whoami).
type Caller struct {
	AccountID string `json:"accountId"`
	Admin     bool   `json:"admin"`
	Name      string `json:"name"`
	RegionID  string `json:"regionId"`
}

// Region describes the deployment's region and zones.
type Region struct {
	RegionID string `json:"regionId"`
	Zones    []Zone `json:"zones"`
	Domain   string `json:"dnsZone"`
	// Network is the data-plane driver (netns or loopback) and NetnsPrefix
	// the prefix of its namespace names, so clients can run `host exec`.
	Network     string `json:"network,omitempty"`
	NetnsPrefix string `json:"netnsPrefix,omitempty"`
}

// ZoneIDs lists the region's zone IDs in order.
func (r Region) ZoneIDs() []string {
	out := make([]string, 0, len(r.Zones))
	for _, z := range r.Zones {
		out = append(out, z.ZoneID)
	}
	return out
}

// Zone is one availability zone.
type Zone struct {
	ZoneID string `json:"zoneId"`
}

// Connection is one endpoint's connection to a service, as the provider sees it.
type Connection struct {
	EndpointID       string         `json:"endpointId"`
	EndpointOwnerID  string         `json:"endpointOwnerId"`
	ServiceID        string         `json:"serviceId"`
	VpcID            string         `json:"endpointVpcId"`
	ConnectionStatus string         `json:"connectionStatus"`
	Zones            []EndpointZone `json:"zones"`
	CreateTime       string         `json:"createTime"`
	// Bandwidth is the provider's cap for this connection in Mbps (0: the
	// service's connectBandwidth applies).
	Bandwidth int `json:"bandwidth"`
}

// MaxAccessKeysPerAccount is Alibaba's limit of AccessKeys per RAM user.
const MaxAccessKeysPerAccount = 2

// AccessKey is an AccessKey pair of the Alibaba Cloud RPC API, without
// its secret.
type AccessKey struct {
	AccessKeyID string `json:"accessKeyId"`
	AccountID   string `json:"accountId"`
	Status      string `json:"status"`
	CreateTime  string `json:"createTime"`
}

// AccessKeyWithSecret is the answer to CreateAccessKey: the only time the
// secret is shown.
type AccessKeyWithSecret struct {
	AccessKey
	AccessKeySecret string `json:"accessKeySecret"`
}

// Node is one machine of the region's data plane as the admin sees it
// (GET /v1/nodes): its registration, whether it is ready, and its load.
type Node struct {
	Name         string `json:"name"`
	ZoneID       string `json:"zoneId"`
	UnderlayAddr string `json:"underlayAddr,omitempty"`
	OverlayAddr  string `json:"overlayAddr"`
	Index        int    `json:"index"`
	// Status is Ready (its liveness record exists) or NotReady;
	// NotReadySince is when it stopped being ready, once stamped.
	Status        string `json:"status"`
	NotReadySince string `json:"notReadySince,omitempty"`
	Registered    string `json:"registered"`
	Version       string `json:"version,omitempty"`
	Hostname      string `json:"hostname,omitempty"`
	VPCMTU        int    `json:"vpcMtu,omitempty"`
	// Hosts and ENIs are how many hosts and endpoint IPs the node holds.
	Hosts int `json:"hosts"`
	ENIs  int `json:"enis"`
}

// Tag is one key/value label of a resource.
type Tag = model.Tag

// Resource types of the tag and resource group operations.
const (
	ResourceVPC           = "vpc"
	ResourceVSwitch       = "vswitch"
	ResourceSecurityGroup = "securitygroup"
	ResourceService       = "service"
	ResourceEndpoint      = "endpoint"
)

// TaggableResources are the resource types that carry tags and a
// resource group.
var TaggableResources = []string{ResourceVPC, ResourceVSwitch, ResourceSecurityGroup, ResourceService, ResourceEndpoint}

// MaxTagResources bounds the resources of one tag operation (Alibaba: 50).
const MaxTagResources = 50

// TagResourcesRequest sets tags on resources of one type, all or none.
type TagResourcesRequest struct {
	ResourceType string   `json:"resourceType"`
	ResourceIDs  []string `json:"resourceIds"`
	Tags         []Tag    `json:"tags"`
}

// UntagResourcesRequest removes tags (by key, or all) from resources of
// one type, all or none.
type UntagResourcesRequest struct {
	ResourceType string   `json:"resourceType"`
	ResourceIDs  []string `json:"resourceIds"`
	TagKeys      []string `json:"tagKeys,omitempty"`
	All          bool     `json:"all,omitempty"`
}

// TagResource is one tag of one resource (ListTagResources).
type TagResource struct {
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	Key          string `json:"tagKey"`
	Value        string `json:"tagValue"`
}

// ChangeResourceGroupRequest moves a resource to another resource group
// (empty: the default group).
type ChangeResourceGroupRequest struct {
	ResourceType    string `json:"resourceType"`
	ResourceID      string `json:"resourceId"`
	ResourceGroupID string `json:"resourceGroupId"`
}
