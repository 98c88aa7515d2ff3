package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

var lbCols = []col{{"LOAD BALANCER ID", "loadBalancerId"}, {"NAME", "loadBalancerName"}, {"VPC ID", "vpcId"}, {"PORTS", "ports"},
	{"ZONES", "zoneIds"}, {"BACKENDS", "backends.ip"}, {"HEALTH", "backends.health"}, {"SERVICES", "serviceIds"}, {"STATUS", "loadBalancerStatus"}}

func loadBalancerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "load-balancer", Aliases: []string{"lb", "nlb"}, Short: "Manage load balancers: service resources (provider side)"}
	var req api.CreateLoadBalancerRequest
	var ports []int
	var backends []string
	create := &cobra.Command{Use: "create", Short: "Create a load balancer in a VPC", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		req.Ports, req.Backends = ports, nil
		for _, b := range backends {
			be, err := api.ParseBackend(b)
			if err != nil {
				return err
			}
			req.Backends = append(req.Backends, be)
		}
		return g.run(cmd, lbCols, do((*client.Client).CreateLoadBalancer, req))
	}}
	f := create.Flags()
	f.StringVar(&req.Name, "name", "", "name")
	f.StringVar(&req.VpcID, "vpc", "", "VPC of the backends")
	f.IntSliceVar(&ports, "port", nil, "listener port (repeatable)")
	f.StringArrayVar(&backends, "backend", nil, "backend ZONE=IP:PORT in a vSwitch of the VPC in that zone (repeatable; PORT may be omitted to use the listener port)")
	commonCreateFlags(create, &req.ClientToken, &req.DryRun)

	svc := ""
	attach := &cobra.Command{Use: "attach LB", Short: "Attach to a service: it takes the load balancer's ports, zones and backends", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, svcCols, func(ctx context.Context, c *client.Client) (any, error) {
			return c.AttachServiceLoadBalancer(ctx, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: args[0]})
		})
	}}
	attach.Flags().StringVar(&svc, "service", "", "service ID")
	detach := &cobra.Command{Use: "detach LB", Short: "Detach from a service (not its last resource)", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, svcCols, func(ctx context.Context, c *client.Client) (any, error) {
			return c.DetachServiceLoadBalancer(ctx, svc, args[0])
		})
	}}
	detach.Flags().StringVar(&svc, "service", "", "service ID")
	cmd.AddCommand(create, attach, detach)
	crud(g, cmd, lbCols, (*client.Client).ListLoadBalancers, (*client.Client).GetLoadBalancer, (*client.Client).DeleteLoadBalancer, api.FilterVpcID)
	return cmd
}
