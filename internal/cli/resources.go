package cli

import (
	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/apiserver"
	"github.com/privlink/privlink/internal/model"
)

var (
	vpcCols  = []col{{"VPC ID", "vpcId"}, {"NAME", "vpcName"}, {"CIDR", "cidrBlock"}, {"STATUS", "status"}}
	vswCols  = []col{{"VSWITCH ID", "vSwitchId"}, {"VPC ID", "vpcId"}, {"ZONE", "zoneId"}, {"CIDR", "cidrBlock"}, {"GATEWAY", "gatewayIp"}, {"NAME", "vSwitchName"}}
	sgCols   = []col{{"SECURITY GROUP ID", "securityGroupId"}, {"VPC ID", "vpcId"}, {"NAME", "securityGroupName"}, {"RULES (proto port source policy prio)", "rules"}}
	hostCols = []col{{"HOST ID", "hostId"}, {"NAME", "hostName"}, {"VPC ID", "vpcId"}, {"VSWITCH ID", "vSwitchId"}, {"ZONE", "zoneId"}, {"IP", "privateIpAddress"}}
	svcCols  = []col{{"SERVICE ID", "serviceId"}, {"SERVICE NAME", "serviceName"}, {"SERVICE DOMAIN", "serviceDomain"}, {"REGION", "regionId"}, {"ZONES", "zoneIds"}, {"PORTS", "ports"}, {"AUTO ACCEPT", "autoAcceptEnabled"}, {"STATUS", "serviceStatus"}}
	epCols   = []col{{"ENDPOINT ID", "endpointId"}, {"SERVICE NAME", "serviceName"}, {"VPC ID", "vpcId"}, {"ENDPOINT DOMAIN", "endpointDomain"}, {"STATUS", "endpointStatus"}, {"CONNECTION", "connectionStatus"}, {"ZONES", "zones.zoneId"}, {"IPS", "zones.ip"}, {"ZONE DOMAINS", "zones.zoneDomain"}, {"ZONE STATUS", "zones.zoneStatus"}}
	connCols = []col{{"ENDPOINT ID", "endpointId"}, {"OWNER", "endpointOwnerId"}, {"VPC ID", "endpointVpcId"}, {"CONNECTION", "connectionStatus"}, {"ZONES", "zones.zoneId"}, {"IPS", "zones.ip"}}
)

// crud adds get, list and delete subcommands for a REST collection.
func crud(g *globals, parent *cobra.Command, path string, cols []col, listFilters ...string) {
	filters := map[string]*string{}
	list := &cobra.Command{Use: "list", Short: "List", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		c, err := g.client()
		if err != nil {
			return err
		}
		q := ""
		for k, v := range filters {
			if *v != "" {
				q += "&" + k + "=" + *v
			}
		}
		if q != "" {
			q = "?" + q[1:]
		}
		var out apiserver.List[map[string]any]
		if err := c.Get(ctx(cmd), path+q, &out); err != nil {
			return err
		}
		return g.print(out, cols)
	}}
	for _, f := range listFilters {
		filters[f] = list.Flags().String(flagName(f), "", "filter by "+f)
	}
	get := &cobra.Command{Use: "get ID", Short: "Show one", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.call(cmd, "GET", path+"/"+args[0], nil, cols)
	}}
	del := &cobra.Command{Use: "delete ID", Short: "Delete", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.call(cmd, "DELETE", path+"/"+args[0], nil, cols)
	}}
	parent.AddCommand(list, get, del)
}

func flagName(f string) string {
	switch f {
	case "vpcId":
		return "vpc"
	case "serviceId":
		return "service"
	}
	return f
}

// call performs one request and prints the answer.
func (g *globals) call(cmd *cobra.Command, method, path string, body any, cols []col) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	var out map[string]any
	if err := c.Do(ctx(cmd), method, path, body, &out); err != nil {
		return err
	}
	if code, _ := out["code"].(string); code == "DryRunOperation" {
		return g.print(out, []col{{"CODE", "code"}, {"MESSAGE", "message"}})
	}
	return g.print(out, cols)
}

func regionCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "region", Short: "Show the region, its zones and the DNS zone", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.call(cmd, "GET", "/v1/region", nil, []col{{"REGION", "regionId"}, {"ZONES", "zones.zoneId"}, {"DNS ZONE", "dnsZone"}, {"NETWORK", "network"}})
	}}
}

func accountCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Manage accounts (admin)"}
	var name, token string
	create := &cobra.Command{Use: "create", Short: "Create an account; prints its token once", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.call(cmd, "POST", "/v1/accounts", apiserver.CreateAccountRequest{Name: name, ClientToken: token}, []col{{"ACCOUNT ID", "accountId"}, {"NAME", "name"}, {"TOKEN", "token"}})
	}}
	create.Flags().StringVar(&name, "name", "", "account name")
	create.Flags().StringVar(&token, "client-token", "", "idempotency token")
	list := &cobra.Command{Use: "list", Short: "List accounts", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.call(cmd, "GET", "/v1/accounts", nil, []col{{"ACCOUNT ID", "accountId"}, {"NAME", "name"}, {"CREATED", "createTime"}})
	}}
	whoami := &cobra.Command{Use: "whoami", Short: "Show the token's account", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.call(cmd, "GET", "/v1/whoami", nil, []col{{"ACCOUNT ID", "accountId"}, {"NAME", "name"}, {"ADMIN", "admin"}})
	}}
	cmd.AddCommand(create, list, whoami)
	return cmd
}

func vpcCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "vpc", Short: "Manage VPCs"}
	var req apiserver.CreateVPCRequest
	create := &cobra.Command{Use: "create", Short: "Create a VPC", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.call(cmd, "POST", "/v1/vpcs", req, vpcCols)
	}}
	create.Flags().StringVar(&req.Name, "name", "", "VPC name")
	create.Flags().StringVar(&req.CidrBlock, "cidr", "", "CIDR block, e.g. 172.16.0.0/16")
	create.Flags().StringVar(&req.NetnsPath, "adopt-netns", "", "adopt an existing network namespace (path, e.g. /proc/PID/ns/net; admin only)")
	commonCreateFlags(create, &req.ClientToken, &req.DryRun)
	cmd.AddCommand(create)
	crud(g, cmd, "/v1/vpcs", vpcCols)
	return cmd
}

func commonCreateFlags(c *cobra.Command, token *string, dry *bool) {
	c.Flags().StringVar(token, "client-token", "", "idempotency token: repeating it returns the same resource")
	c.Flags().BoolVar(dry, "dry-run", false, "validate only")
}

func vswitchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "vswitch", Short: "Manage vSwitches"}
	var req apiserver.CreateVSwitchRequest
	create := &cobra.Command{Use: "create", Short: "Create a vSwitch", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.call(cmd, "POST", "/v1/vswitches", req, vswCols)
	}}
	create.Flags().StringVar(&req.VpcID, "vpc", "", "VPC ID")
	create.Flags().StringVar(&req.ZoneID, "zone", "", "zone ID")
	create.Flags().StringVar(&req.CidrBlock, "cidr", "", "CIDR inside the VPC's")
	create.Flags().StringVar(&req.Name, "name", "", "name")
	commonCreateFlags(create, &req.ClientToken, &req.DryRun)
	cmd.AddCommand(create)
	crud(g, cmd, "/v1/vswitches", vswCols, "vpcId")
	return cmd
}

func sgCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "security-group", Aliases: []string{"sg"}, Short: "Manage security groups"}
	var req apiserver.CreateSecurityGroupRequest
	create := &cobra.Command{Use: "create", Short: "Create a security group (no rules = drop everything)", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.call(cmd, "POST", "/v1/security-groups", req, sgCols)
	}}
	create.Flags().StringVar(&req.VpcID, "vpc", "", "VPC ID")
	create.Flags().StringVar(&req.Name, "name", "", "name")
	commonCreateFlags(create, &req.ClientToken, &req.DryRun)
	var rule model.SecurityGroupRule
	ruleCmd := func(use, verb string) *cobra.Command {
		c := &cobra.Command{Use: use + " SG", Short: verb + " an inbound rule", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, "POST", "/v1/security-groups/"+args[0]+"/"+use, apiserver.RulesRequest{Rules: []model.SecurityGroupRule{rule}}, sgCols)
		}}
		c.Flags().StringVar(&rule.Protocol, "protocol", "tcp", "tcp or all")
		c.Flags().StringVar(&rule.PortRange, "port", "", "port or range: 6001 or 6001-6010")
		c.Flags().StringVar(&rule.SourceCidr, "source", "", "source CIDR, e.g. 172.16.0.0/16")
		c.Flags().StringVar(&rule.Policy, "policy", "accept", "accept or drop")
		c.Flags().IntVar(&rule.Priority, "priority", 1, "1 (first) to 100")
		return c
	}
	cmd.AddCommand(create, ruleCmd("authorize", "Add"), ruleCmd("revoke", "Remove"))
	crud(g, cmd, "/v1/security-groups", sgCols, "vpcId")
	return cmd
}
