package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

var (
	vpcCols  = []col{{"VPC ID", "vpcId"}, {"NAME", "vpcName"}, {"CIDR", "cidrBlock"}, {"IPV6 CIDR", "ipv6CidrBlock"}, {"STATUS", "status"}}
	vswCols  = []col{{"VSWITCH ID", "vSwitchId"}, {"VPC ID", "vpcId"}, {"ZONE", "zoneId"}, {"CIDR", "cidrBlock"}, {"GATEWAY", "gatewayIp"}, {"IPV6 CIDR", "ipv6CidrBlock"}, {"NAME", "vSwitchName"}}
	sgCols   = []col{{"SECURITY GROUP ID", "securityGroupId"}, {"VPC ID", "vpcId"}, {"NAME", "securityGroupName"}, {"RULES (proto port source policy prio)", "rules"}}
	hostCols = []col{{"HOST ID", "hostId"}, {"NAME", "hostName"}, {"VPC ID", "vpcId"}, {"VSWITCH ID", "vSwitchId"}, {"ZONE", "zoneId"}, {"IP", "privateIpAddress"}, {"NODE", "nodeName"}}
	svcCols  = []col{{"SERVICE ID", "serviceId"}, {"SERVICE NAME", "serviceName"}, {"SERVICE DOMAIN", "serviceDomain"}, {"REGION", "regionId"}, {"ZONES", "zoneIds"}, {"PORTS", "ports"}, {"UDP PORTS", "udpPorts"}, {"AUTO ACCEPT", "autoAcceptEnabled"}, {"FORWARDING", "forwarding"}, {"STATUS", "serviceStatus"}}
	epCols   = []col{{"ENDPOINT ID", "endpointId"}, {"SERVICE NAME", "serviceName"}, {"VPC ID", "vpcId"}, {"ENDPOINT DOMAIN", "endpointDomain"}, {"STATUS", "endpointStatus"}, {"CONNECTION", "connectionStatus"}, {"ZONES", "zones.zoneId"}, {"IPS", "zones.ip"}, {"ZONE DOMAINS", "zones.zoneDomain"}, {"ZONE STATUS", "zones.zoneStatus"}}
	connCols = []col{{"ENDPOINT ID", "endpointId"}, {"OWNER", "endpointOwnerId"}, {"VPC ID", "endpointVpcId"}, {"CONNECTION", "connectionStatus"}, {"ZONES", "zones.zoneId"}, {"IPS", "zones.ip"}, {"BANDWIDTH", "bandwidth"}, {"SNAT IPS", "zones.snatIp"}}
	acctCols = []col{{"ACCOUNT ID", "accountId"}, {"NAME", "name"}, {"CREATED", "createTime"}}
)

type (
	listFunc[T any] func(*client.Client, context.Context, client.Filter) ([]T, error)
	byIDFunc[T any] func(*client.Client, context.Context, string) (T, error)
)

// unfiltered adapts a list without filters to listFunc.
func unfiltered[T any](f func(*client.Client, context.Context) ([]T, error)) listFunc[T] {
	return func(c *client.Client, ctx context.Context, _ client.Filter) ([]T, error) { return f(c, ctx) }
}

// crud adds list, get and delete subcommands for a collection; filters
// become flags of list (vpcId: --vpc, serviceId: --service).
func crud[T any](g *globals, parent *cobra.Command, cols []col, list listFunc[T], get, del byIDFunc[T], filters ...string) {
	var f client.Filter
	listCmd := &cobra.Command{Use: "list", Short: "List", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, cols, func(ctx context.Context, c *client.Client) (any, error) { return listed(list(c, ctx, f)) })
	}}
	for _, name := range filters {
		switch name {
		case api.FilterVpcID:
			listCmd.Flags().StringVar(&f.VpcID, "vpc", "", "filter by vpcId")
		case api.FilterServiceID:
			listCmd.Flags().StringVar(&f.ServiceID, "service", "", "filter by serviceId")
		}
	}
	byID := func(use, short string, fn byIDFunc[T]) *cobra.Command {
		return &cobra.Command{Use: use + " ID", Short: short, Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, cols, func(ctx context.Context, c *client.Client) (any, error) { return fn(c, ctx, args[0]) })
		}}
	}
	parent.AddCommand(listCmd, byID("get", "Show one", get), byID("delete", "Delete", del))
}

// run makes one API call with the command's client and prints the answer;
// a passed dry run prints its code and message.
func (g *globals) run(cmd *cobra.Command, cols []col, call func(context.Context, *client.Client) (any, error)) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	out, err := call(ctx(cmd), c)
	var dry *api.DryRunResult
	if errors.As(err, &dry) {
		return g.print(dry, []col{{"CODE", "code"}, {"MESSAGE", "message"}})
	}
	if err != nil {
		return err
	}
	return g.print(out, cols)
}

// listed is a fetched list as the API's list body, {"items": [...]}.
func listed[T any](items []T, err error) (any, error) {
	return api.List[T]{Items: items, TotalCount: len(items)}, err
}

// createCmd is a collection's create subcommand: it sends *req, filled
// from the flags the caller adds (and --client-token, --dry-run), and prints
// the new resource as cols.
func createCmd[R, T any](g *globals, short string, cols []col, call func(*client.Client, context.Context, R) (T, error), req *R, token *string, dry *bool) *cobra.Command {
	c := &cobra.Command{Use: "create", Short: short, Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, cols, do(call, *req))
	}}
	commonCreateFlags(c, token, dry)
	return c
}

// do adapts a typed call to run.
func do[R, T any](call func(*client.Client, context.Context, R) (T, error), req R) func(context.Context, *client.Client) (any, error) {
	return func(ctx context.Context, c *client.Client) (any, error) { return call(c, ctx, req) }
}

func regionCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "region", Short: "Show the region, its zones and the DNS zone", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, []col{{"REGION", "regionId"}, {"ZONES", "zones.zoneId"}, {"DNS ZONE", "dnsZone"}, {"NETWORK", "network"}},
			func(ctx context.Context, c *client.Client) (any, error) { return c.DescribeRegion(ctx) })
	}}
}

func accountCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Manage accounts (admin; rotate-token and quota: every account its own)"}
	var req api.CreateAccountRequest
	create := &cobra.Command{Use: "create", Short: "Create an account; prints its token once", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, tokenCols, do((*client.Client).CreateAccount, req))
	}}
	create.Flags().StringVar(&req.Name, "name", "", "account name")
	create.Flags().StringVar(&req.ClientToken, "client-token", "", "idempotency token")
	list := &cobra.Command{Use: "list", Short: "List accounts", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, acctCols, func(ctx context.Context, c *client.Client) (any, error) { return listed(c.ListAccounts(ctx)) })
	}}
	whoami := &cobra.Command{Use: "whoami", Short: "Show the token's account", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, []col{{"ACCOUNT ID", "accountId"}, {"NAME", "name"}, {"ADMIN", "admin"}},
			func(ctx context.Context, c *client.Client) (any, error) { return c.WhoAmI(ctx) })
	}}
	cmd.AddCommand(create, list, whoami)
	cmd.AddCommand(accountLifecycle(g)...)
	cmd.AddCommand(quotaCmds(g)...)
	return cmd
}

func vpcCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "vpc", Short: "Manage VPCs"}
	var req api.CreateVPCRequest
	create := createCmd(g, "Create a VPC", vpcCols, (*client.Client).CreateVPC, &req, &req.ClientToken, &req.DryRun)
	create.Flags().StringVar(&req.Name, "name", "", "VPC name")
	create.Flags().StringVar(&req.Description, "description", "", "description (at most 256 bytes)")
	create.Flags().StringVar(&req.CidrBlock, "cidr", "", "CIDR block, e.g. 172.16.0.0/16")
	create.Flags().StringVar(&req.NetnsPath, "adopt-netns", "", "adopt an existing network namespace (path, e.g. /proc/PID/ns/net; admin only)")
	create.Flags().BoolVar(&req.EnableIpv6, "ipv6", false, "dual-stack: an IPv6 /56 chosen by privlink (a random ULA prefix unique in the region)")
	create.Flags().StringVar(&req.Ipv6CidrBlock, "ipv6-cidr", "", "dual-stack with your own IPv6 /56 inside fc00::/7, e.g. fd12:3456:789a::/56")
	taggingFlags(create, &req.Tags, &req.ResourceGroupID)
	cmd.AddCommand(create, enableIPv6Cmd(g))
	crud(g, cmd, vpcCols, unfiltered((*client.Client).ListVPCs), (*client.Client).GetVPC, (*client.Client).DeleteVPC)
	return cmd
}

func commonCreateFlags(c *cobra.Command, token *string, dry *bool) {
	c.Flags().StringVar(token, "client-token", "", "idempotency token: repeating it returns the same resource")
	c.Flags().BoolVar(dry, "dry-run", false, "validate only")
}

func vswitchCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "vswitch", Short: "Manage vSwitches"}
	var req api.CreateVSwitchRequest
	create := createCmd(g, "Create a vSwitch", vswCols, (*client.Client).CreateVSwitch, &req, &req.ClientToken, &req.DryRun)
	create.Flags().StringVar(&req.VpcID, "vpc", "", "VPC ID")
	create.Flags().StringVar(&req.ZoneID, "zone", "", "zone ID")
	create.Flags().StringVar(&req.CidrBlock, "cidr", "", "CIDR inside the VPC's")
	ipv6VSwitchFlags(create, &req)
	create.Flags().StringVar(&req.Name, "name", "", "name")
	taggingFlags(create, &req.Tags, &req.ResourceGroupID)
	cmd.AddCommand(create)
	crud(g, cmd, vswCols, (*client.Client).ListVSwitches, (*client.Client).GetVSwitch, (*client.Client).DeleteVSwitch, api.FilterVpcID)
	return cmd
}

func sgCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "security-group", Aliases: []string{"sg"}, Short: "Manage security groups"}
	var req api.CreateSecurityGroupRequest
	create := &cobra.Command{Use: "create", Short: "Create a security group (no rules = drop everything)", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		return g.run(cmd, sgCols, do((*client.Client).CreateSecurityGroup, req))
	}}
	create.Flags().StringVar(&req.VpcID, "vpc", "", "VPC ID")
	create.Flags().StringVar(&req.Name, "name", "", "name")
	taggingFlags(create, &req.Tags, &req.ResourceGroupID)
	commonCreateFlags(create, &req.ClientToken, &req.DryRun)
	var rule model.SecurityGroupRule
	ruleCmd := func(use, verb string, change func(*client.Client, context.Context, string, api.RulesRequest) (api.SecurityGroup, error)) *cobra.Command {
		c := &cobra.Command{Use: use + " SG", Short: verb + " an inbound rule", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, sgCols, func(ctx context.Context, c *client.Client) (any, error) {
				return change(c, ctx, args[0], api.RulesRequest{Rules: []model.SecurityGroupRule{rule}})
			})
		}}
		c.Flags().StringVar(&rule.Protocol, "protocol", "tcp", "tcp, udp or all")
		c.Flags().StringVar(&rule.PortRange, "port", "", "port or range: 6001 or 6001-6010")
		c.Flags().StringVar(&rule.SourceCidr, "source", "", "source CIDR, IPv4 or IPv6, e.g. 172.16.0.0/16 or fd00::/8 (0.0.0.0/0 matches IPv4 sources only, ::/0 IPv6 ones)")
		c.Flags().StringVar(&rule.Policy, "policy", "accept", "accept or drop")
		c.Flags().IntVar(&rule.Priority, "priority", 1, "1 (first) to 100")
		return c
	}
	cmd.AddCommand(create, ruleCmd("authorize", "Add", (*client.Client).AuthorizeSecurityGroup), ruleCmd("revoke", "Remove", (*client.Client).RevokeSecurityGroup))
	crud(g, cmd, sgCols, (*client.Client).ListSecurityGroups, (*client.Client).GetSecurityGroup, (*client.Client).DeleteSecurityGroup, api.FilterVpcID)
	return cmd
}
