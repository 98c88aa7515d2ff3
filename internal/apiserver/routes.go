package apiserver

// route is one API operation; the OpenAPI document is generated from these.
type route struct {
	Method, Path string
	OperationID  string
	Summary      string
	Body         any // request body type, nil when none
	Response     any // response body type
	Admin        bool
	Handler      handlerFunc
}

func (a *API) routes() []route {
	return []route{
		{"POST", "/v1/accounts", "CreateAccount", "Create an account and its first token (admin only)", CreateAccountRequest{}, AccountWithToken{}, true, a.createAccount},
		{"GET", "/v1/accounts", "ListAccounts", "List accounts (admin only)", nil, List[AccountWithToken]{}, true, a.listAccounts},
		{"GET", "/v1/whoami", "DescribeCaller", "The account the token belongs to", nil, map[string]any{}, false, a.whoami},
		{"GET", "/v1/region", "DescribeRegion", "Region and zones of this deployment", nil, Region{}, false, a.describeRegion},

		{"POST", "/v1/vpcs", "CreateVpc", "Create a VPC", CreateVPCRequest{}, vpcT, false, a.createVPC},
		{"GET", "/v1/vpcs", "ListVpcs", "List your VPCs", nil, List[vpcType]{}, false, a.listVPCs},
		{"GET", "/v1/vpcs/{id}", "GetVpc", "Get a VPC", nil, vpcT, false, a.getVPC},
		{"DELETE", "/v1/vpcs/{id}", "DeleteVpc", "Delete an empty VPC", nil, vpcT, false, a.deleteVPC},

		{"POST", "/v1/vswitches", "CreateVSwitch", "Create a vSwitch in a VPC and zone", CreateVSwitchRequest{}, vswT, false, a.createVSwitch},
		{"GET", "/v1/vswitches", "ListVSwitches", "List your vSwitches (filter: vpcId)", nil, List[vswType]{}, false, a.listVSwitches},
		{"GET", "/v1/vswitches/{id}", "GetVSwitch", "Get a vSwitch", nil, vswT, false, a.getVSwitch},
		{"DELETE", "/v1/vswitches/{id}", "DeleteVSwitch", "Delete an unused vSwitch", nil, vswT, false, a.deleteVSwitch},

		{"POST", "/v1/security-groups", "CreateSecurityGroup", "Create a security group", CreateSecurityGroupRequest{}, sgT, false, a.createSecurityGroup},
		{"GET", "/v1/security-groups", "ListSecurityGroups", "List your security groups (filter: vpcId)", nil, List[sgType]{}, false, a.listSecurityGroups},
		{"GET", "/v1/security-groups/{id}", "GetSecurityGroup", "Get a security group", nil, sgT, false, a.getSecurityGroup},
		{"DELETE", "/v1/security-groups/{id}", "DeleteSecurityGroup", "Delete an unused security group", nil, sgT, false, a.deleteSecurityGroup},
		{"POST", "/v1/security-groups/{id}/authorize", "AuthorizeSecurityGroup", "Add inbound rules", RulesRequest{}, sgT, false, a.authorizeSecurityGroup},
		{"POST", "/v1/security-groups/{id}/revoke", "RevokeSecurityGroup", "Remove inbound rules", RulesRequest{}, sgT, false, a.revokeSecurityGroup},

		{"POST", "/v1/hosts", "CreateHost", "Create a host on a vSwitch", CreateHostRequest{}, hostT, false, a.createHost},
		{"GET", "/v1/hosts", "ListHosts", "List your hosts (filter: vpcId)", nil, List[hostType]{}, false, a.listHosts},
		{"GET", "/v1/hosts/{id}", "GetHost", "Get a host", nil, hostT, false, a.getHost},
		{"DELETE", "/v1/hosts/{id}", "DeleteHost", "Delete a host", nil, hostT, false, a.deleteHost},

		{"POST", "/v1/services", "CreateVpcEndpointService", "Publish an endpoint service", CreateServiceRequest{}, svcT, false, a.createService},
		{"GET", "/v1/services", "ListVpcEndpointServices", "List the services you provide", nil, List[svcType]{}, false, a.listServices},
		{"GET", "/v1/service-search", "ListVpcEndpointServicesByUser", "Services that allow-list you (filter: serviceName)", nil, List[svcType]{}, false, a.searchServices},
		{"GET", "/v1/services/{id}", "GetVpcEndpointServiceAttribute", "Get a service (by ID or name)", nil, svcT, false, a.getService},
		{"PATCH", "/v1/services/{id}", "UpdateVpcEndpointServiceAttribute", "Change a service's attributes", UpdateServiceRequest{}, svcT, false, a.updateService},
		{"DELETE", "/v1/services/{id}", "DeleteVpcEndpointService", "Delete a service without endpoints", nil, svcT, false, a.deleteService},
		{"POST", "/v1/services/{id}/allowed-accounts", "AddUserToVpcEndpointService", "Allow-list an account", AllowRequest{}, svcT, false, a.allowAccount},
		{"DELETE", "/v1/services/{id}/allowed-accounts/{account}", "RemoveUserFromVpcEndpointService", "Remove an account; disconnects its endpoints", nil, svcT, false, a.disallowAccount},
		{"GET", "/v1/services/{id}/connections", "ListVpcEndpointConnections", "Endpoints connected to a service", nil, List[Connection]{}, false, a.listConnections},
		{"POST", "/v1/services/{id}/connections/{endpoint}/accept", "EnableVpcEndpointConnection", "Accept a connection", nil, Connection{}, false, a.acceptConnection},
		{"POST", "/v1/services/{id}/connections/{endpoint}/reject", "DisableVpcEndpointConnection", "Reject or disconnect a connection", nil, Connection{}, false, a.rejectConnection},

		{"POST", "/v1/endpoints", "CreateVpcEndpoint", "Create an interface endpoint", CreateEndpointRequest{}, epT, false, a.createEndpoint},
		{"GET", "/v1/endpoints", "ListVpcEndpoints", "List your endpoints (filters: vpcId, serviceId)", nil, List[epType]{}, false, a.listEndpoints},
		{"GET", "/v1/endpoints/{id}", "GetVpcEndpointAttribute", "Get an endpoint with live zone status", nil, epT, false, a.getEndpoint},
		{"DELETE", "/v1/endpoints/{id}", "DeleteVpcEndpoint", "Delete an endpoint and release its IPs", nil, epT, false, a.deleteEndpoint},
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
