package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

func endpointCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "endpoint", Short: "Manage interface endpoints (consumer side)"}
	var req api.CreateEndpointRequest
	var service string
	var zones []string
	var wait bool
	var timeout time.Duration
	create := &cobra.Command{Use: "create", Short: "Create an interface endpoint", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		if strings.HasPrefix(service, model.PrefixService) {
			req.ServiceID = service
		} else {
			req.ServiceName = service
		}
		return g.run(cmd, epCols, func(ctx context.Context, c *client.Client) (any, error) {
			req.Zones = nil
			for _, z := range zones {
				zr, err := parseZone(z)
				if err != nil {
					return nil, err
				}
				req.Zones = append(req.Zones, zr)
			}
			ep, err := c.CreateEndpoint(ctx, req)
			if err != nil || !wait {
				return ep, err
			}
			return waitActive(ctx, c, ep.EndpointID, timeout)
		})
	}}
	f := create.Flags()
	f.StringVar(&service, "service", "", "service name or ID")
	f.StringVar(&req.VpcID, "vpc", "", "VPC ID")
	f.StringSliceVar(&req.SecurityGroupIDs, "security-group", nil, "security group ID (repeatable)")
	f.StringArrayVar(&zones, "zone", nil, "ZONE=VSWITCH[:IP][,ipv6=IPV6] (repeatable; one per zone; none: Active with no address until add-zone; ipv6= asks for the IPv6 ENI address of a dualstack service)")
	taggingFlags(create, &req.Tags, &req.ResourceGroupID)
	f.StringVar(&req.Name, "name", "", "name")
	f.StringVar(&req.Description, "description", "", "description (at most 256 bytes)")
	f.BoolVar(&wait, "wait", false, "wait until the endpoint is Active")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "how long --wait waits")
	commonCreateFlags(create, &req.ClientToken, &req.DryRun)
	cmd.AddCommand(create)
	crud(g, cmd, epCols, (*client.Client).ListEndpoints, (*client.Client).GetEndpoint, (*client.Client).DeleteEndpoint, api.FilterVpcID, api.FilterServiceID)
	cmd.AddCommand(endpointSGCmd(g, "attach-security-group", "Attach a security group of the endpoint's VPC (new connections)", (*client.Client).AttachSecurityGroup),
		endpointSGCmd(g, "detach-security-group", "Detach a security group (another must stay)", (*client.Client).DetachSecurityGroup),
		&cobra.Command{Use: "add-zone ENDPOINT_ID ZONE=VSWITCH[:IP][,ipv6=IPV6]", Short: "Add a zone: an ENI on a vSwitch of the endpoint's VPC there", Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return g.run(cmd, epCols, func(ctx context.Context, c *client.Client) (any, error) {
					z, err := parseZone(args[1])
					if err != nil {
						return nil, err
					}
					return c.AddEndpointZone(ctx, args[0], z)
				})
			}},
		&cobra.Command{Use: "remove-zone ENDPOINT_ID ZONE", Short: "Remove a zone and release its address (another must stay)", Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return g.run(cmd, epCols, func(ctx context.Context, c *client.Client) (any, error) {
					return c.RemoveEndpointZone(ctx, args[0], args[1])
				})
			}})
	return cmd
}

// endpointSGCmd is `endpoint attach-security-group|detach-security-group EP SG`.
func endpointSGCmd(g *globals, use, short string, f func(*client.Client, context.Context, string, string) (api.Endpoint, error)) *cobra.Command {
	return &cobra.Command{Use: use + " ENDPOINT_ID SECURITY_GROUP_ID", Short: short, Args: cobra.ExactArgs(2), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, append(epCols[:len(epCols):len(epCols)], col{"SECURITY GROUPS", "securityGroupIds"}), func(ctx context.Context, c *client.Client) (any, error) {
			return f(c, ctx, args[0], args[1])
		})
	}}
}

// waitActive waits until the endpoint is Active, printing progress to stderr.
func waitActive(ctx context.Context, c *client.Client, id string, timeout time.Duration) (api.Endpoint, error) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wc := *c
	wc.PollInterval = 100 * time.Millisecond
	ep, err := wc.WaitEndpointActive(wctx, id, func(ep api.Endpoint) {
		var zs []string
		for _, z := range ep.Zones {
			zs = append(zs, z.ZoneID+"="+z.ZoneStatus)
		}
		fmt.Fprintf(os.Stderr, "\rwaiting for %s: %s, connection %s, zones %s (%.1fs)   ", id, ep.EndpointStatus, ep.ConnectionStatus, strings.Join(zs, " "), time.Since(start).Seconds())
	})
	fmt.Fprintln(os.Stderr)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return ep, fmt.Errorf("endpoint %s not Active after %s (status %s, connection %s)", id, timeout, ep.EndpointStatus, ep.ConnectionStatus)
	}
	return ep, err
}

// parseZone parses ZONE=VSWITCH[:IP][,ipv6=IPV6].
func parseZone(s string) (api.EndpointZoneRequest, error) {
	zone, rest, ok := strings.Cut(s, "=")
	if !ok || zone == "" || rest == "" {
		return api.EndpointZoneRequest{}, fmt.Errorf("--zone %q must look like ZONE=VSWITCH[:IP][,ipv6=IPV6]", s)
	}
	rest, ip6 := cutZoneIPv6(rest)
	vsw, ip, _ := strings.Cut(rest, ":")
	return api.EndpointZoneRequest{ZoneID: zone, VSwitchID: vsw, IP: ip, Ipv6Address: ip6}, nil
}
