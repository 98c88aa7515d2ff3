package apiserver

import "net/http"

// route is one API operation; the OpenAPI document is generated from these.
type route struct {
	Method, Path string
	OperationID  string
	Summary      string
	Body         any // request body type, nil when none
	Response     any // response body type
	Admin        bool
	Created      bool
	Handler      handlerFunc
}

func (a *API) routes() []route {
	return []route{
		{"POST", "/v1/accounts", "CreateAccount", "Create an account and its first token (admin only)", CreateAccountRequest{}, AccountWithToken{}, true, true, a.createAccount},
		{"GET", "/v1/accounts", "ListAccounts", "List accounts (admin only)", nil, List[AccountWithToken]{}, true, false, a.listAccounts},
		{"GET", "/v1/whoami", "DescribeCaller", "The account the token belongs to", nil, map[string]any{}, false, false, a.whoami},
		{"GET", "/v1/region", "DescribeRegion", "Region and zones of this deployment", nil, Region{}, false, false, a.describeRegion},

		{"POST", "/v1/vpcs", "CreateVpc", "Create a VPC", CreateVPCRequest{}, vpcT, false, true, a.createVPC},
		{"GET", "/v1/vpcs", "ListVpcs", "List your VPCs", nil, List[vpcType]{}, false, false, a.listVPCs},
		{"GET", "/v1/vpcs/{id}", "GetVpc", "Get a VPC", nil, vpcT, false, false, a.getVPC},
		{"DELETE", "/v1/vpcs/{id}", "DeleteVpc", "Delete an empty VPC", nil, vpcT, false, false, a.deleteVPC},

		{"POST", "/v1/vswitches", "CreateVSwitch", "Create a vSwitch in a VPC and zone", CreateVSwitchRequest{}, vswT, false, true, a.createVSwitch},
		{"GET", "/v1/vswitches", "ListVSwitches", "List your vSwitches (filter: vpcId)", nil, List[vswType]{}, false, false, a.listVSwitches},
		{"GET", "/v1/vswitches/{id}", "GetVSwitch", "Get a vSwitch", nil, vswT, false, false, a.getVSwitch},
		{"DELETE", "/v1/vswitches/{id}", "DeleteVSwitch", "Delete an unused vSwitch", nil, vswT, false, false, a.deleteVSwitch},

		{"POST", "/v1/security-groups", "CreateSecurityGroup", "Create a security group", CreateSecurityGroupRequest{}, sgT, false, true, a.createSecurityGroup},
		{"GET", "/v1/security-groups", "ListSecurityGroups", "List your security groups (filter: vpcId)", nil, List[sgType]{}, false, false, a.listSecurityGroups},
		{"GET", "/v1/security-groups/{id}", "GetSecurityGroup", "Get a security group", nil, sgT, false, false, a.getSecurityGroup},
		{"DELETE", "/v1/security-groups/{id}", "DeleteSecurityGroup", "Delete an unused security group", nil, sgT, false, false, a.deleteSecurityGroup},
		{"POST", "/v1/security-groups/{id}/authorize", "AuthorizeSecurityGroup", "Add inbound rules", RulesRequest{}, sgT, false, false, a.authorizeSecurityGroup},
		{"POST", "/v1/security-groups/{id}/revoke", "RevokeSecurityGroup", "Remove inbound rules", RulesRequest{}, sgT, false, false, a.revokeSecurityGroup},

		{"POST", "/v1/hosts", "CreateHost", "Create a host on a vSwitch", CreateHostRequest{}, hostT, false, true, a.createHost},
		{"GET", "/v1/hosts", "ListHosts", "List your hosts (filter: vpcId)", nil, List[hostType]{}, false, false, a.listHosts},
		{"GET", "/v1/hosts/{id}", "GetHost", "Get a host", nil, hostT, false, false, a.getHost},
		{"DELETE", "/v1/hosts/{id}", "DeleteHost", "Delete a host", nil, hostT, false, false, a.deleteHost},

		{"POST", "/v1/services", "CreateVpcEndpointService", "Publish an endpoint service", CreateServiceRequest{}, svcT, false, true, a.createService},
		{"GET", "/v1/services", "ListVpcEndpointServices", "List the services you provide", nil, List[svcType]{}, false, false, a.listServices},
		{"GET", "/v1/service-search", "ListVpcEndpointServicesByUser", "Services that allow-list you (filter: serviceName)", nil, List[svcType]{}, false, false, a.searchServices},
		{"GET", "/v1/services/{id}", "GetVpcEndpointServiceAttribute", "Get a service (by ID or name)", nil, svcT, false, false, a.getService},
		{"PATCH", "/v1/services/{id}", "UpdateVpcEndpointServiceAttribute", "Change a service's attributes", UpdateServiceRequest{}, svcT, false, false, a.updateService},
		{"DELETE", "/v1/services/{id}", "DeleteVpcEndpointService", "Delete a service without endpoints", nil, svcT, false, false, a.deleteService},
		{"POST", "/v1/services/{id}/allowed-accounts", "AddUserToVpcEndpointService", "Allow-list an account", AllowRequest{}, svcT, false, false, a.allowAccount},
		{"DELETE", "/v1/services/{id}/allowed-accounts/{account}", "RemoveUserFromVpcEndpointService", "Remove an account; disconnects its endpoints", nil, svcT, false, false, a.disallowAccount},
		{"GET", "/v1/services/{id}/connections", "ListVpcEndpointConnections", "Endpoints connected to a service", nil, List[Connection]{}, false, false, a.listConnections},
		{"POST", "/v1/services/{id}/connections/{endpoint}/accept", "EnableVpcEndpointConnection", "Accept a connection", nil, Connection{}, false, false, a.acceptConnection},
		{"POST", "/v1/services/{id}/connections/{endpoint}/reject", "DisableVpcEndpointConnection", "Reject or disconnect a connection", nil, Connection{}, false, false, a.rejectConnection},

		{"POST", "/v1/endpoints", "CreateVpcEndpoint", "Create an interface endpoint", CreateEndpointRequest{}, epT, false, true, a.createEndpoint},
		{"GET", "/v1/endpoints", "ListVpcEndpoints", "List your endpoints (filters: vpcId, serviceId)", nil, List[epType]{}, false, false, a.listEndpoints},
		{"GET", "/v1/endpoints/{id}", "GetVpcEndpointAttribute", "Get an endpoint with live zone status", nil, epT, false, false, a.getEndpoint},
		{"DELETE", "/v1/endpoints/{id}", "DeleteVpcEndpoint", "Delete an endpoint and release its IPs", nil, epT, false, false, a.deleteEndpoint},
	}
}

// Routes lists method and path of every operation (for tests and docs).
func (a *API) Routes() [][2]string {
	var out [][2]string
	for _, r := range a.routes() {
		out = append(out, [2]string{r.Method, r.Path})
	}
	return out
}

var _ = http.MethodGet
