package api

import "github.com/privlink/privlink/internal/model"

// Input limits: the largest lists and texts a request may carry, per
// Alibaba where it has one. The per-account quotas (model.QuotaItems) are
// stored per account and admin-settable; these are fixed.
const (
	// MaxEndpointsPerVPC is the default endpoints-per-VPC quota.
	MaxEndpointsPerVPC    = 50
	MaxZonesPerEndpoint   = 10
	MaxBackendsPerService = 20
	MaxPortsPerService    = 10
	// MaxBandwidthMbps bounds a service's connectBandwidth and a
	// connection's bandwidth (Alibaba's 10 Gbps).
	MaxBandwidthMbps = 10240
	// MaxSecurityGroupsPerEndpoint is Alibaba's limit too.
	MaxSecurityGroupsPerEndpoint = 10
	// MaxAllowedAccounts bounds a service's allow-list.
	MaxAllowedAccounts = 200
	// MaxRulesPerRequest bounds the rules of one create or authorize/revoke.
	MaxRulesPerRequest = 100
	// MaxDescription is the longest description, in bytes.
	MaxDescription = model.MaxDescription
	// MaxBodyBytes is the largest request body the server reads.
	MaxBodyBytes = 1 << 20
	// MaxLoadBalancersPerVPC bounds the load balancers of one VPC (VPCs
	// are an account quota, so an account's load balancers are bounded).
	MaxLoadBalancersPerVPC = 20
	// MaxPageSize is the largest maxResults a list accepts.
	MaxPageSize = 100
)

// Quota is an account's limits.
type Quota = model.Quota

// AccountQuota is an account's limits with what it uses
// (GET/PUT /v1/accounts/{id}/quota).
type AccountQuota struct {
	AccountID string       `json:"accountId"`
	Items     []QuotaUsage `json:"items"`
}

// QuotaUsage is one limit: for scope "vpc" or "securityGroup" the usage is
// the highest of any one VPC or group of the account.
type QuotaUsage struct {
	Name    string `json:"name"`
	Scope   string `json:"scope"`
	Limit   int    `json:"limit"`
	Usage   int    `json:"usage"`
	Default int    `json:"default"`
	Code    string `json:"code"`
}

// SetQuotaRequest changes some of an account's limits; omitted ones keep
// their value.
type SetQuotaRequest struct {
	Vpcs                  *int `json:"vpcs,omitempty"`
	VSwitchesPerVpc       *int `json:"vSwitchesPerVpc,omitempty"`
	Hosts                 *int `json:"hosts,omitempty"`
	SecurityGroups        *int `json:"securityGroups,omitempty"`
	RulesPerSecurityGroup *int `json:"rulesPerSecurityGroup,omitempty"`
	Services              *int `json:"services,omitempty"`
	EndpointsPerVpc       *int `json:"endpointsPerVpc,omitempty"`
}

// Fields pairs the request's fields with the quota item names.
func (r *SetQuotaRequest) Fields() map[string]*int {
	return map[string]*int{"vpcs": r.Vpcs, "vSwitchesPerVpc": r.VSwitchesPerVpc, "hosts": r.Hosts,
		"securityGroups": r.SecurityGroups, "rulesPerSecurityGroup": r.RulesPerSecurityGroup,
		"services": r.Services, "endpointsPerVpc": r.EndpointsPerVpc}
}

// Set sets the limit of the quota item name.
func (r *SetQuotaRequest) Set(name string, v int) {
	p := map[string]**int{"vpcs": &r.Vpcs, "vSwitchesPerVpc": &r.VSwitchesPerVpc, "hosts": &r.Hosts,
		"securityGroups": &r.SecurityGroups, "rulesPerSecurityGroup": &r.RulesPerSecurityGroup,
		"services": &r.Services, "endpointsPerVpc": &r.EndpointsPerVpc}[name]
	if p != nil {
		*p = &v
	}
}

// Validate checks each given limit is within its item's range.
func (r SetQuotaRequest) Validate() error {
	n, fields := 0, r.Fields()
	for _, it := range model.QuotaItems { // in table order: the first bad one
		v := fields[it.Name]
		if v == nil {
			continue
		}
		n++
		if *v < 0 || *v > it.Max {
			return model.Invalid("Quota."+it.Name, "%s must be 0 to %d", it.Name, it.Max)
		}
	}
	if n == 0 {
		return model.Invalid("Quota", "give at least one limit to set")
	}
	return nil
}
