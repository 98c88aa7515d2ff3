package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/apiserver"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

func endpointCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "endpoint", Short: "Manage interface endpoints (consumer side)"}
	var req apiserver.CreateEndpointRequest
	var service string
	var zones []string
	var wait bool
	var timeout time.Duration
	create := &cobra.Command{Use: "create", Short: "Create an interface endpoint", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		c, err := g.client()
		if err != nil {
			return err
		}
		if strings.HasPrefix(service, model.PrefixService) {
			req.ServiceID = service
		} else {
			req.ServiceName = service
		}
		req.Zones = nil
		for _, z := range zones {
			zr, err := parseZone(z)
			if err != nil {
				return err
			}
			req.Zones = append(req.Zones, zr)
		}
		if req.DryRun {
			return g.call(cmd, "POST", "/v1/endpoints", req, nil)
		}
		var ep model.Endpoint
		if err := c.Post(ctx(cmd), "/v1/endpoints", req, &ep); err != nil {
			return err
		}
		if wait {
			if ep, err = WaitActive(cmd, c, ep.EndpointID, timeout); err != nil {
				return err
			}
		}
		return g.print(ep, epCols)
	}}
	f := create.Flags()
	f.StringVar(&service, "service", "", "service name or ID")
	f.StringVar(&req.VpcID, "vpc", "", "VPC ID")
	f.StringSliceVar(&req.SecurityGroupIDs, "security-group", nil, "security group ID (repeatable)")
	f.StringArrayVar(&zones, "zone", nil, "ZONE=VSWITCH[:IP] (repeatable; one per zone)")
	f.StringVar(&req.Name, "name", "", "name")
	f.BoolVar(&wait, "wait", false, "wait until the endpoint is Active")
	f.DurationVar(&timeout, "timeout", 60*time.Second, "how long --wait waits")
	commonCreateFlags(create, &req.ClientToken, &req.DryRun)
	cmd.AddCommand(create)
	crud(g, cmd, "/v1/endpoints", epCols, "vpcId", "serviceId")
	return cmd
}

// WaitActive polls until the endpoint is Active, printing progress to stderr.
func WaitActive(cmd *cobra.Command, c *client.Client, id string, timeout time.Duration) (model.Endpoint, error) {
	deadline := time.Now().Add(timeout)
	start := time.Now()
	var ep model.Endpoint
	for {
		if err := c.Get(ctx(cmd), "/v1/endpoints/"+id, &ep); err != nil {
			return ep, err
		}
		var zs []string
		for _, z := range ep.Zones {
			zs = append(zs, z.ZoneID+"="+z.ZoneStatus)
		}
		fmt.Fprintf(os.Stderr, "\rwaiting for %s: %s, connection %s, zones %s (%.1fs)   ", id, ep.EndpointStatus, ep.ConnectionStatus, strings.Join(zs, " "), time.Since(start).Seconds())
		if ep.EndpointStatus == model.StatusActive {
			fmt.Fprintln(os.Stderr)
			return ep, nil
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr)
			return ep, fmt.Errorf("endpoint %s not Active after %s (status %s, connection %s)", id, timeout, ep.EndpointStatus, ep.ConnectionStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// parseZone parses ZONE=VSWITCH[:IP].
func parseZone(s string) (apiserver.EndpointZoneRequest, error) {
	zone, rest, ok := strings.Cut(s, "=")
	if !ok || zone == "" || rest == "" {
		return apiserver.EndpointZoneRequest{}, fmt.Errorf("--zone %q must look like ZONE=VSWITCH[:IP]", s)
	}
	vsw, ip, _ := strings.Cut(rest, ":")
	return apiserver.EndpointZoneRequest{ZoneID: zone, VSwitchID: vsw, IP: ip}, nil
}
