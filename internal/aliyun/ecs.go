package aliyun

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

// The ECS API (2014-05-26) subset a consumer needs: security groups with
// the inbound rules privlink's groups can express (TCP or all, a port
// range, an IPv4 source CIDR, accept or drop, priority 1 to 100).

func ecsActions() map[string]action {
	return map[string]action{
		"CreateSecurityGroup":            createSecurityGroup,
		"DeleteSecurityGroup":            deleteBy("SecurityGroupId", (*client.Client).GetSecurityGroup, (*client.Client).DeleteSecurityGroup),
		"DescribeSecurityGroups":         describeSecurityGroups,
		"DescribeSecurityGroupAttribute": describeSecurityGroupAttribute,
		"AuthorizeSecurityGroup":         authorizeSecurityGroup,
		"RevokeSecurityGroup":            revokeSecurityGroup,
		"RunInstances":                   runInstances,
		"DescribeInstances":              describeInstances,
		"DeleteInstance":                 deleteBy("InstanceId", (*client.Client).GetHost, (*client.Client).DeleteHost),
		"TagResources":                   tagResources(ecsTagTypes),
		"UntagResources":                 untagResources(ecsTagTypes),
		"ListTagResources":               listTagResources(ecsTagTypes, true),
	}
}

type createSecurityGroupResponse struct {
	Base
	SecurityGroupId string `json:"SecurityGroupId"`
}

func createSecurityGroup(c *call) (response, error) {
	if err := c.p.unsupported("SecurityGroupType", "privlink groups are basic (normal) groups", "normal"); err != nil {
		return nil, err
	}
	if err := c.p.unsupported("Description", "descriptions are not stored yet; use the name"); err != nil {
		return nil, err
	}
	vpc, err := c.p.required("VpcId")
	if err != nil {
		return nil, err
	}
	g, err := c.c.CreateSecurityGroup(c.ctx, api.CreateSecurityGroupRequest{VpcID: vpc, Name: c.p.str("SecurityGroupName"), ClientToken: c.p.str("ClientToken"),
		Tags: tagsOf(c.p), ResourceGroupID: c.p.str("ResourceGroupId")})
	if err != nil {
		return nil, err
	}
	return &createSecurityGroupResponse{SecurityGroupId: g.SecurityGroupID}, nil
}

// ruleFields are the rule parameters privlink cannot express.
var ruleFields = []string{"DestCidrIp", "Ipv6DestCidrIp", "SourceGroupId", "SourceGroupOwnerAccount", "SourceGroupOwnerId", "SourcePrefixListId", "SourcePortRange"}

// rule turns one rule's parameters (top level, or Permissions.N with
// lower-cased names) into a privlink rule.
func rule(get func(string) string) (api.SecurityGroupRule, error) {
	for _, f := range ruleFields {
		if v := get(f); v != "" {
			return api.SecurityGroupRule{}, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "%s is not supported by privlink security groups: rules match a source CIDR (SourceCidrIp or Ipv6SourceCidrIp) and a destination port range", f)
		}
	}
	if nic := get("NicType"); nic != "" && !strings.EqualFold(nic, "intranet") {
		return api.SecurityGroupRule{}, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "NicType %s is not supported: privlink rules apply to the intranet", nic)
	}
	src, err := ruleSource(get)
	if err != nil {
		return api.SecurityGroupRule{}, err
	}
	r := api.SecurityGroupRule{Protocol: strings.ToLower(get("IpProtocol")), PortRange: get("PortRange"), SourceCidr: src, Policy: strings.ToLower(get("Policy"))}
	if r.Protocol == "" {
		return r, model.Errorf(http.StatusBadRequest, "MissingParameter", "the parameter IpProtocol is required")
	}
	if r.Protocol != "tcp" && r.Protocol != "udp" && r.Protocol != "all" {
		return r, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "IpProtocol %s is not supported: endpoints carry TCP and UDP (use TCP, UDP or ALL)", get("IpProtocol"))
	}
	if r.Protocol == "all" && r.PortRange == "-1/-1" {
		r.PortRange = "1/65535"
	}
	if p := get("Priority"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return r, model.Invalid("Priority", "Priority %q is not an integer", p)
		}
		r.Priority = n
	}
	return r, nil
}

// rules are a request's rules: the top-level one and Permissions.N.
func rules(p params) ([]api.SecurityGroupRule, error) {
	var out []api.SecurityGroupRule
	if p.str("IpProtocol") != "" || p.str("PortRange") != "" {
		r, err := rule(p.str)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	for _, item := range p.structs("Permissions") {
		r, err := rule(func(k string) string { return item[strings.ToLower(k)] })
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, model.Errorf(http.StatusBadRequest, "MissingParameter", "a rule is required: IpProtocol and PortRange, or Permissions.N.*")
	}
	return out, nil
}

func authorizeSecurityGroup(c *call) (response, error) {
	return changeRules(c, (*client.Client).AuthorizeSecurityGroup)
}

func revokeSecurityGroup(c *call) (response, error) {
	if len(c.p.list("SecurityGroupRuleId")) > 0 {
		return nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "privlink rules have no IDs: revoke a rule by its fields")
	}
	return changeRules(c, (*client.Client).RevokeSecurityGroup)
}

func changeRules(c *call, f func(*client.Client, context.Context, string, api.RulesRequest) (api.SecurityGroup, error)) (response, error) {
	id, err := c.p.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	rs, err := rules(c.p)
	if err != nil {
		return nil, err
	}
	if _, err := f(c.c, c.ctx, id, api.RulesRequest{Rules: rs}); err != nil {
		return nil, err
	}
	return &Base{}, nil
}

type securityGroupView struct {
	SecurityGroupId   string `json:"SecurityGroupId"`
	SecurityGroupName string `json:"SecurityGroupName"`
	Description       string `json:"Description"`
	SecurityGroupType string `json:"SecurityGroupType"`
	VpcId             string `json:"VpcId"`
	CreationTime      string `json:"CreationTime"`
	RuleCount         int    `json:"RuleCount"`
}

type describeSecurityGroupsResponse struct {
	Base
	RegionId       string `json:"RegionId"`
	NextToken      string `json:"NextToken"`
	TotalCount     int    `json:"TotalCount"`
	PageNumber     int    `json:"PageNumber"`
	PageSize       int    `json:"PageSize"`
	SecurityGroups struct {
		SecurityGroup []securityGroupView `json:"SecurityGroup"`
	} `json:"SecurityGroups"`
}

func describeSecurityGroups(c *call) (response, error) {
	f := tagFilter(c.p)
	f.VpcID = c.p.str("VpcId")
	all, err := c.c.ListSecurityGroups(c.ctx, f)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	if id := c.p.str("SecurityGroupId"); id != "" {
		want[id] = true
	}
	if ids := c.p.str("SecurityGroupIds"); ids != "" {
		var list []string
		if json.Unmarshal([]byte(ids), &list) != nil {
			return nil, model.Invalid("SecurityGroupIds", "SecurityGroupIds must be a JSON array of IDs, e.g. [\"sg-xxx\"]")
		}
		for _, id := range list {
			want[id] = true
		}
	}
	name := c.p.str("SecurityGroupName")
	var keep []api.SecurityGroup
	for _, g := range all {
		if (len(want) == 0 || want[g.SecurityGroupID]) && (name == "" || g.Name == name) {
			keep = append(keep, g)
		}
	}
	out := &describeSecurityGroupsResponse{RegionId: c.h.cfg.Region, TotalCount: len(keep)}
	var page []api.SecurityGroup
	key := func(g api.SecurityGroup) string { return g.SecurityGroupID }
	if c.p.str("MaxResults") != "" || c.p.str("NextToken") != "" {
		page, out.NextToken, _, err = tokenPage(c.p, keep, key)
	} else {
		page, out.PageNumber, out.PageSize, err = numberPage(c.p, keep, key)
	}
	if err != nil {
		return nil, err
	}
	out.SecurityGroups.SecurityGroup = []securityGroupView{}
	for _, g := range page {
		out.SecurityGroups.SecurityGroup = append(out.SecurityGroups.SecurityGroup, securityGroupView{SecurityGroupId: g.SecurityGroupID,
			SecurityGroupName: g.Name, SecurityGroupType: "normal", VpcId: g.VpcID, CreationTime: g.CreateTime, RuleCount: len(g.Rules)})
	}
	return out, nil
}

type permissionView struct {
	Direction    string `json:"Direction"`
	IpProtocol   string `json:"IpProtocol"`
	PortRange    string `json:"PortRange"`
	SourceCidrIp string `json:"SourceCidrIp"`
	// Ipv6SourceCidrIp holds an IPv6 rule's source (SourceCidrIp is then "").
	Ipv6SourceCidrIp string `json:"Ipv6SourceCidrIp,omitempty"`
	Policy           string `json:"Policy"`
	Priority         string `json:"Priority"`
	NicType          string `json:"NicType"`
}

type describeSecurityGroupAttributeResponse struct {
	Base
	SecurityGroupId   string `json:"SecurityGroupId"`
	SecurityGroupName string `json:"SecurityGroupName"`
	VpcId             string `json:"VpcId"`
	RegionId          string `json:"RegionId"`
	Description       string `json:"Description"`
	InnerAccessPolicy string `json:"InnerAccessPolicy"`
	Permissions       struct {
		Permission []permissionView `json:"Permission"`
	} `json:"Permissions"`
}

func describeSecurityGroupAttribute(c *call) (response, error) {
	id, err := c.p.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	if d := c.p.str("Direction"); d == "egress" {
		return nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "privlink groups have inbound rules only")
	}
	g, err := c.c.GetSecurityGroup(c.ctx, id)
	if err != nil {
		return nil, err
	}
	out := &describeSecurityGroupAttributeResponse{SecurityGroupId: g.SecurityGroupID, SecurityGroupName: g.Name, VpcId: g.VpcID,
		RegionId: c.h.cfg.Region, InnerAccessPolicy: "Drop"}
	out.Permissions.Permission = []permissionView{}
	for _, r := range g.Rules {
		out.Permissions.Permission = append(out.Permissions.Permission, permissionView{Direction: "ingress", IpProtocol: strings.ToUpper(r.Protocol),
			PortRange: r.PortRange, SourceCidrIp: v4Source(r.SourceCidr), Ipv6SourceCidrIp: v6Source(r.SourceCidr), Policy: policyName(r.Policy), Priority: strconv.Itoa(r.Priority), NicType: "intranet"})
	}
	return out, nil
}

// policyName is Alibaba's spelling of a policy: Accept or Drop.
func policyName(p string) string {
	if p == "" {
		return p
	}
	return strings.ToUpper(p[:1]) + p[1:]
}
