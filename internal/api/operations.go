package api

import (
	"fmt"
	"net/url"
	"strings"
)

// Operation is one API operation. The server routes Method+" "+Path to the
// handler registered under ID, the client expands Path with Expand, and the
// OpenAPI document is generated from the table, so the three cannot drift.
type Operation struct {
	ID       string // operationId, Alibaba's action name (CreateVpc)
	Method   string
	Path     string // with {name} parameters
	Summary  string
	Request  any // request body type (a zero value), nil when none
	Response any // response body type (a zero value)
	Admin    bool
	// Filters are the query filters a list honours (besides paging).
	Filters []string
	// Errors are the 4xx statuses the operation answers besides 401
	// (every operation) with an Error body; 500, 503 and 507 are always possible.
	Errors []int
}

// Operation IDs the client and the server refer to.
const (
	OpCreateAccount       = "CreateAccount"
	OpListAccounts        = "ListAccounts"
	OpRotateToken         = "RotateAccountToken"
	OpDeleteAccount       = "DeleteAccount"
	OpGetQuota            = "DescribeAccountQuota"
	OpSetQuota            = "ModifyAccountQuota"
	OpWhoAmI              = "DescribeCaller"
	OpDescribeRegion      = "DescribeRegion"
	OpCreateVPC           = "CreateVpc"
	OpListVPCs            = "ListVpcs"
	OpGetVPC              = "GetVpc"
	OpDeleteVPC           = "DeleteVpc"
	OpAllocateVPCIPv6     = "AllocateVpcIpv6Cidr"
	OpCreateVSwitch       = "CreateVSwitch"
	OpListVSwitches       = "ListVSwitches"
	OpGetVSwitch          = "GetVSwitch"
	OpDeleteVSwitch       = "DeleteVSwitch"
	OpCreateSecurityGroup = "CreateSecurityGroup"
	OpListSecurityGroups  = "ListSecurityGroups"
	OpGetSecurityGroup    = "GetSecurityGroup"
	OpDeleteSecurityGroup = "DeleteSecurityGroup"
	OpAuthorizeSG         = "AuthorizeSecurityGroup"
	OpRevokeSG            = "RevokeSecurityGroup"
	OpCreateHost          = "CreateHost"
	OpListHosts           = "ListHosts"
	OpGetHost             = "GetHost"
	OpDeleteHost          = "DeleteHost"
	OpCreateService       = "CreateVpcEndpointService"
	OpListServices        = "ListVpcEndpointServices"
	OpSearchServices      = "ListVpcEndpointServicesByUser"
	OpGetService          = "GetVpcEndpointServiceAttribute"
	OpUpdateService       = "UpdateVpcEndpointServiceAttribute"
	OpDeleteService       = "DeleteVpcEndpointService"
	OpAllowAccount        = "AddUserToVpcEndpointService"
	OpDisallowAccount     = "RemoveUserFromVpcEndpointService"
	OpListConnections     = "ListVpcEndpointConnections"
	OpAcceptConnection    = "EnableVpcEndpointConnection"
	OpRejectConnection    = "DisableVpcEndpointConnection"
	OpUpdateConnection    = "UpdateVpcEndpointConnectionAttribute"
	OpEnableZoneConn      = "EnableVpcEndpointZoneConnection"
	OpDisableZoneConn     = "DisableVpcEndpointZoneConnection"
	OpZoneResource        = "UpdateVpcEndpointZoneConnectionResourceAttribute"
	OpCreateEndpoint      = "CreateVpcEndpoint"
	OpListEndpoints       = "ListVpcEndpoints"
	OpGetEndpoint         = "GetVpcEndpointAttribute"
	OpDeleteEndpoint      = "DeleteVpcEndpoint"
	OpListEvents          = "ListEvents"
	OpCreateNotification  = "CreateNotification"
	OpListNotifications   = "ListNotifications"
	OpDeleteNotification  = "DeleteNotification"
	OpUpdateEndpoint      = "UpdateVpcEndpointAttribute"
	OpAddEndpointZone     = "AddZoneToVpcEndpoint"
	OpRemoveEndpointZone  = "RemoveZoneFromVpcEndpoint"
	OpAttachEndpointSG    = "AttachSecurityGroupToVpcEndpoint"
	OpDetachEndpointSG    = "DetachSecurityGroupFromVpcEndpoint"
	OpCreateAccessKey     = "CreateAccessKey"
	OpListAccessKeys      = "ListAccessKeys"
	OpDeleteAccessKey     = "DeleteAccessKey"
	OpListNodes           = "ListNodes"

	OpCreateLoadBalancer = "CreateLoadBalancer"
	OpListLoadBalancers  = "ListLoadBalancers"
	OpGetLoadBalancer    = "GetLoadBalancer"
	OpDeleteLoadBalancer = "DeleteLoadBalancer"
	OpAttachServiceLB    = "AttachResourceToVpcEndpointService"
	OpDetachServiceLB    = "DetachResourceFromVpcEndpointService"
	OpDeleteNode         = "DeleteNode"
	OpEndpointTraffic    = "DescribeVpcEndpointTraffic"
	OpServiceTraffic     = "DescribeVpcEndpointServiceTraffic"
)

// Operation IDs of tags and resource groups.
const (
	OpTagResources        = "TagResources"
	OpUntagResources      = "UntagResources"
	OpListTagResources    = "ListTagResources"
	OpChangeResourceGroup = "ChangeResourceGroup"
)

// Query filter names.
const (
	FilterVpcID       = "vpcId"
	FilterServiceID   = "serviceId"
	FilterServiceName = "serviceName"
	FilterEventType   = "type"
	FilterResourceID  = "resourceId"
	// FilterTag is KEY=VALUE (or KEY: any value), repeatable: resources
	// carrying every tag given.
	FilterTag = "tag"
	// FilterResourceGroupID keeps the resources of one resource group.
	FilterResourceGroupID = "resourceGroupId"
	// FilterResourceType is the resource type of ListTagResources.
	FilterResourceType = "resourceType"
	// FilterSince is an event ID: only events after it.
	FilterSince = "since"
	// ParamFollow ("true") turns ListEvents into a Server-Sent Events
	// stream that resumes after the Last-Event-ID header (or since).
	ParamFollow = "follow"
)

// The error statuses of the common kinds of operation: a create or change
// validates its body (400, 413), refers to resources (404) and commits a
// transaction that may lose a race (409); a list validates its paging (400).
var (
	bodyErrs   = []int{400, 404, 409, 413}
	getErrs    = []int{404}
	listErrs   = []int{400}
	deleteErrs = []int{400, 404, 409}
)

// Operations is every operation of the API, in documentation order.
var Operations = []Operation{
	{OpCreateAccount, "POST", "/v1/accounts", "Create an account and its first token (admin only)", CreateAccountRequest{}, AccountWithToken{}, true, nil, []int{400, 403, 409, 413}},
	{OpListAccounts, "GET", "/v1/accounts", "List accounts (admin only)", nil, List[AccountWithToken]{}, true, nil, []int{400, 403}},
	{OpRotateToken, "POST", "/v1/accounts/{id}/rotate-token", "Replace an account's tokens by a new one, shown once (your own; the admin: any)", nil, AccountWithToken{}, false, nil, []int{404, 409}},
	{OpDeleteAccount, "DELETE", "/v1/accounts/{id}", "Delete an account that owns nothing, and its tokens (admin only)", nil, AccountWithToken{}, true, nil, []int{400, 403, 404, 409}},
	{OpGetQuota, "GET", "/v1/accounts/{id}/quota", "An account's quotas and usage (your own; the admin: any)", nil, AccountQuota{}, false, nil, []int{404}},
	{OpSetQuota, "PUT", "/v1/accounts/{id}/quota", "Set some of an account's quotas; lowering one below usage refuses new creates and deletes nothing (admin only)", SetQuotaRequest{}, AccountQuota{}, true, nil, []int{400, 403, 404, 409, 413}},
	{OpWhoAmI, "GET", "/v1/whoami", "The account the token belongs to", nil, Caller{}, false, nil, nil},
	{OpCreateAccessKey, "POST", "/v1/access-keys", "Create an AccessKey pair for the Alibaba Cloud RPC API (the secret is in this answer only)", nil, AccessKeyWithSecret{}, false, nil, []int{400}},
	{OpListAccessKeys, "GET", "/v1/access-keys", "List your AccessKeys (no secrets)", nil, List[AccessKey]{}, false, nil, listErrs},
	{OpDeleteAccessKey, "DELETE", "/v1/access-keys/{id}", "Delete an AccessKey: requests signed with it fail at once", nil, AccessKey{}, false, nil, getErrs},
	{OpDescribeRegion, "GET", "/v1/region", "Region and zones of this deployment", nil, Region{}, false, nil, nil},

	{OpCreateVPC, "POST", "/v1/vpcs", "Create a VPC", CreateVPCRequest{}, VPC{}, false, nil, []int{400, 403, 409, 413}},
	{OpListVPCs, "GET", "/v1/vpcs", "List your VPCs (filters: tag, resourceGroupId)", nil, List[VPC]{}, false, []string{FilterTag, FilterResourceGroupID}, listErrs},
	{OpGetVPC, "GET", "/v1/vpcs/{id}", "Get a VPC", nil, VPC{}, false, nil, getErrs},
	{OpDeleteVPC, "DELETE", "/v1/vpcs/{id}", "Delete an empty VPC", nil, VPC{}, false, nil, deleteErrs},
	{OpAllocateVPCIPv6, "POST", "/v1/vpcs/{id}/ipv6-cidr", "Give an IPv4-only VPC an IPv6 /56 (yours inside fc00::/7, or a random ULA one); its vSwitches then may take /64s", AllocateVpcIpv6CidrRequest{}, VPC{}, false, nil, bodyErrs},

	{OpCreateVSwitch, "POST", "/v1/vswitches", "Create a vSwitch in a VPC and zone", CreateVSwitchRequest{}, VSwitch{}, false, nil, bodyErrs},
	{OpListVSwitches, "GET", "/v1/vswitches", "List your vSwitches (filters: vpcId, tag, resourceGroupId)", nil, List[VSwitch]{}, false, []string{FilterVpcID, FilterTag, FilterResourceGroupID}, listErrs},
	{OpGetVSwitch, "GET", "/v1/vswitches/{id}", "Get a vSwitch", nil, VSwitch{}, false, nil, getErrs},
	{OpDeleteVSwitch, "DELETE", "/v1/vswitches/{id}", "Delete an unused vSwitch", nil, VSwitch{}, false, nil, deleteErrs},

	{OpCreateSecurityGroup, "POST", "/v1/security-groups", "Create a security group", CreateSecurityGroupRequest{}, SecurityGroup{}, false, nil, bodyErrs},
	{OpListSecurityGroups, "GET", "/v1/security-groups", "List your security groups (filters: vpcId, tag, resourceGroupId)", nil, List[SecurityGroup]{}, false, []string{FilterVpcID, FilterTag, FilterResourceGroupID}, listErrs},
	{OpGetSecurityGroup, "GET", "/v1/security-groups/{id}", "Get a security group", nil, SecurityGroup{}, false, nil, getErrs},
	{OpDeleteSecurityGroup, "DELETE", "/v1/security-groups/{id}", "Delete an unused security group", nil, SecurityGroup{}, false, nil, deleteErrs},
	{OpAuthorizeSG, "POST", "/v1/security-groups/{id}/authorize", "Add inbound rules", RulesRequest{}, SecurityGroup{}, false, nil, bodyErrs},
	{OpRevokeSG, "POST", "/v1/security-groups/{id}/revoke", "Remove inbound rules", RulesRequest{}, SecurityGroup{}, false, nil, bodyErrs},

	{OpCreateHost, "POST", "/v1/hosts", "Create a host on a vSwitch", CreateHostRequest{}, Host{}, false, nil, bodyErrs},
	{OpListHosts, "GET", "/v1/hosts", "List your hosts (filter: vpcId)", nil, List[Host]{}, false, []string{FilterVpcID}, listErrs},
	{OpGetHost, "GET", "/v1/hosts/{id}", "Get a host", nil, Host{}, false, nil, getErrs},
	{OpDeleteHost, "DELETE", "/v1/hosts/{id}", "Delete a host", nil, Host{}, false, nil, deleteErrs},

	{OpCreateService, "POST", "/v1/services", "Publish an endpoint service", CreateServiceRequest{}, EndpointService{}, false, nil, []int{400, 403, 404, 409, 413}},
	{OpListServices, "GET", "/v1/services", "List the services you provide (filters: tag, resourceGroupId)", nil, List[EndpointService]{}, false, []string{FilterTag, FilterResourceGroupID}, listErrs},
	{OpSearchServices, "GET", "/v1/service-search", "Services that allow-list you (filter: serviceName)", nil, List[EndpointService]{}, false, []string{FilterServiceName}, listErrs},
	{OpGetService, "GET", "/v1/services/{id}", "Get a service (by ID or name)", nil, EndpointService{}, false, nil, getErrs},
	{OpUpdateService, "PATCH", "/v1/services/{id}", "Change a service's attributes", UpdateServiceRequest{}, EndpointService{}, false, nil, bodyErrs},
	{OpDeleteService, "DELETE", "/v1/services/{id}", "Delete a service whose endpoints are all Disconnected (they turn ServiceDeleted)", nil, EndpointService{}, false, nil, deleteErrs},
	{OpAllowAccount, "POST", "/v1/services/{id}/allowed-accounts", "Allow-list an account", AllowRequest{}, EndpointService{}, false, nil, bodyErrs},
	{OpDisallowAccount, "DELETE", "/v1/services/{id}/allowed-accounts/{account}", "Remove an account; disconnects its endpoints", nil, EndpointService{}, false, nil, []int{404, 409}},
	{OpListConnections, "GET", "/v1/services/{id}/connections", "Endpoints connected to a service", nil, List[Connection]{}, false, nil, []int{400, 404}},
	{OpAcceptConnection, "POST", "/v1/services/{id}/connections/{endpoint}/accept", "Accept a connection", nil, Connection{}, false, nil, []int{403, 404, 409}},
	{OpRejectConnection, "POST", "/v1/services/{id}/connections/{endpoint}/reject", "Reject or disconnect a connection", nil, Connection{}, false, nil, []int{404, 409}},
	{OpEnableZoneConn, "POST", "/v1/services/{id}/connections/{endpoint}/zones/{zone}/enable", "Enable one zone of a connection again (provider)", nil, Connection{}, false, nil, []int{404}},
	{OpDisableZoneConn, "POST", "/v1/services/{id}/connections/{endpoint}/zones/{zone}/disable", "Disable one zone of a connection: it carries no traffic and leaves DNS, the other zones serve (provider)", nil, Connection{}, false, nil, []int{404}},
	{OpZoneResource, "POST", "/v1/services/{id}/connections/{endpoint}/zones/{zone}/resource", "Pin one zone of a connection to one of the service's resources in that zone, a backend IP:PORT or a load balancer (empty resourceId: all serve) (provider)", ZoneResourceRequest{}, Connection{}, false, nil, bodyErrs},
	{OpUpdateConnection, "PATCH", "/v1/services/{id}/connections/{endpoint}", "Change a connection's attributes: its bandwidth cap (provider)", UpdateConnectionRequest{}, Connection{}, false, nil, bodyErrs},

	{OpCreateEndpoint, "POST", "/v1/endpoints", "Create an interface endpoint", CreateEndpointRequest{}, Endpoint{}, false, nil, bodyErrs},
	{OpListEndpoints, "GET", "/v1/endpoints", "List your endpoints (filters: vpcId, serviceId, tag, resourceGroupId)", nil, List[Endpoint]{}, false, []string{FilterVpcID, FilterServiceID, FilterTag, FilterResourceGroupID}, listErrs},
	{OpGetEndpoint, "GET", "/v1/endpoints/{id}", "Get an endpoint with live zone status", nil, Endpoint{}, false, nil, getErrs},
	{OpDeleteEndpoint, "DELETE", "/v1/endpoints/{id}", "Delete an endpoint and release its IPs", nil, Endpoint{}, false, nil, deleteErrs},

	{OpCreateNotification, "POST", "/v1/notifications", "Subscribe a webhook to the events of your service or endpoint (the secret is shown once)", CreateNotificationRequest{}, Notification{}, false, nil, []int{400, 403, 404, 409, 413}},
	{OpListNotifications, "GET", "/v1/notifications", "List your webhook subscriptions with their delivery log", nil, List[Notification]{}, false, nil, listErrs},
	{OpDeleteNotification, "DELETE", "/v1/notifications/{id}", "Delete a webhook subscription", nil, Notification{}, false, nil, []int{404, 409}},
	{OpListEvents, "GET", "/v1/events", "Events concerning you, oldest first (filters: type, resourceId, since; follow=true streams them as Server-Sent Events, resuming after Last-Event-ID)", nil, List[Event]{}, false, []string{FilterEventType, FilterResourceID, FilterSince}, listErrs},
	{OpUpdateEndpoint, "PATCH", "/v1/endpoints/{id}", "Change an endpoint's attributes (name)", UpdateEndpointRequest{}, Endpoint{}, false, nil, bodyErrs},
	{OpAddEndpointZone, "POST", "/v1/endpoints/{id}/zones", "Add a zone (an ENI on a vSwitch of the endpoint's VPC there)", EndpointZoneRequest{}, Endpoint{}, false, nil, bodyErrs},
	{OpRemoveEndpointZone, "DELETE", "/v1/endpoints/{id}/zones/{zone}", "Remove a zone and release its address; another must stay", nil, Endpoint{}, false, nil, []int{400, 404, 409}},
	{OpAttachEndpointSG, "POST", "/v1/endpoints/{id}/security-groups", "Attach a security group of the endpoint's VPC (applies to new connections)", EndpointSecurityGroupRequest{}, Endpoint{}, false, nil, bodyErrs},
	{OpEndpointTraffic, "GET", "/v1/endpoints/{id}/traffic", "An endpoint's traffic over the last hour and day, per zone, with the last backend checks", nil, EndpointTraffic{}, false, nil, getErrs},
	{OpServiceTraffic, "GET", "/v1/services/{id}/traffic", "A service's traffic: the sum, each endpoint's, and each backend's last check per zone", nil, ServiceTraffic{}, false, nil, getErrs},
	{OpDetachEndpointSG, "DELETE", "/v1/endpoints/{id}/security-groups/{sg}", "Detach a security group; another must stay", nil, Endpoint{}, false, nil, []int{400, 404, 409}},

	{OpCreateLoadBalancer, "POST", "/v1/load-balancers", "Create a load balancer (listener ports, backends per zone) in a VPC, to attach to services", CreateLoadBalancerRequest{}, LoadBalancer{}, false, nil, bodyErrs},
	{OpListLoadBalancers, "GET", "/v1/load-balancers", "List your load balancers (filter: vpcId)", nil, List[LoadBalancer]{}, false, []string{FilterVpcID}, listErrs},
	{OpGetLoadBalancer, "GET", "/v1/load-balancers/{id}", "Get a load balancer with the services it is attached to and its backends' health", nil, LoadBalancer{}, false, nil, getErrs},
	{OpDeleteLoadBalancer, "DELETE", "/v1/load-balancers/{id}", "Delete a load balancer attached to no service", nil, LoadBalancer{}, false, nil, deleteErrs},
	{OpAttachServiceLB, "POST", "/v1/services/{id}/load-balancers", "Attach a load balancer of the service's VPC: the service takes its ports, zones and backends", ServiceLoadBalancerRequest{}, EndpointService{}, false, nil, bodyErrs},
	{OpDetachServiceLB, "DELETE", "/v1/services/{id}/load-balancers/{lb}", "Detach a load balancer; the service keeps the others' ports, zones and backends (the last cannot go)", nil, EndpointService{}, false, nil, []int{400, 404, 409}},

	{OpListNodes, "GET", "/v1/nodes", "List the region's nodes: zone, underlay address, Ready or NotReady since when, hosts and endpoint IPs held (admin only)", nil, List[Node]{}, true, nil, []int{400, 403}},
	{OpDeleteNode, "DELETE", "/v1/nodes/{name}", "Delete a node that is not ready and holds no host or endpoint IP (admin only)", nil, Node{}, true, nil, []int{403, 404, 409}},

	{OpTagResources, "POST", "/v1/tags", "Set tags on your resources of one type (vpc, vswitch, securitygroup, service, endpoint), all or none", TagResourcesRequest{}, List[TagResource]{}, false, nil, bodyErrs},
	{OpUntagResources, "POST", "/v1/tags/remove", "Remove tags (by key, or all) from your resources of one type, all or none", UntagResourcesRequest{}, List[TagResource]{}, false, nil, bodyErrs},
	{OpListTagResources, "GET", "/v1/tags", "The tags of your resources of one type (filters: resourceType, resourceId (repeatable), tag)", nil, List[TagResource]{}, false, []string{FilterResourceType, FilterResourceID, FilterTag}, []int{400, 404}},
	{OpChangeResourceGroup, "POST", "/v1/resource-group-changes", "Move one of your resources to another resource group", ChangeResourceGroupRequest{}, ChangeResourceGroupRequest{}, false, nil, bodyErrs},
}

// Lookup returns the operation with the given ID.
func Lookup(id string) (Operation, bool) {
	for _, op := range Operations {
		if op.ID == id {
			return op, true
		}
	}
	return Operation{}, false
}

// Expand fills the path's parameters, in order, with the escaped args
// ("." and ".." too, so that they stay one parameter).
func (op Operation) Expand(args ...string) (string, error) {
	var b strings.Builder
	rest := op.Path
	for _, a := range args {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest, '}')
		if i < 0 || j < i {
			return "", fmt.Errorf("%s: %d path arguments for %s", op.ID, len(args), op.Path)
		}
		b.WriteString(rest[:i])
		seg := url.PathEscape(a)
		if seg == "." || seg == ".." {
			// Escaped, or the server's router would clean them away and
			// serve another operation (GET /v1/vpcs/. is the list).
			seg = strings.ReplaceAll(seg, ".", "%2E")
		}
		b.WriteString(seg)
		rest = rest[j+1:]
	}
	if strings.IndexByte(rest, '{') >= 0 {
		return "", fmt.Errorf("%s: %d path arguments for %s", op.ID, len(args), op.Path)
	}
	b.WriteString(rest)
	return b.String(), nil
}
