package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

func serviceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Manage endpoint services (provider side)"}
	var req api.CreateServiceRequest
	var ports, backends, allow []string
	var tlvs string
	create := &cobra.Command{Use: "create", Short: "Publish an endpoint service", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		var err error
		if req.Ports, req.UDPPorts, err = parseServicePorts(ports); err != nil {
			return err
		}
		req.AllowedAccounts = allow
		req.Resources = nil
		for _, b := range backends {
			be, err := api.ParseBackend(b)
			if err != nil {
				return err
			}
			req.Resources = append(req.Resources, be)
		}
		if cmd.Flags().Changed("proxy-protocol-tlvs") {
			req.ProxyProtocolTLVs = tlvList(tlvs)
		}
		return g.run(cmd, svcCols, do((*client.Client).CreateService, req))
	}}
	f := create.Flags()
	f.StringVar(&req.Description, "name", "", "description shown to consumers")
	f.StringVar(&req.VpcID, "vpc", "", "provider VPC where the backends live (default: the host network)")
	f.StringSliceVar(&ports, "port", nil, "listener port PORT[/tcp|/udp] (repeatable; default tcp; e.g. --port 53/udp --port 53/tcp)")
	f.IntVar(&req.UDPIdleTimeout, "udp-idle-timeout", 0, "seconds a UDP flow lives without datagrams (0: 60)")
	f.StringVar(&req.UDPHealthCheckReq, "udp-health-check-req", "", "UDP health probe payload (with --udp-health-check-exp; default: down only on ICMP port unreachable)")
	f.StringVar(&req.UDPHealthCheckExp, "udp-health-check-exp", "", "text the reply to the UDP health probe must contain")
	f.StringArrayVar(&backends, "backend", nil, "backend ZONE=IP:PORT (repeatable; PORT may be omitted to use the listener port)")
	f.StringSliceVar(&req.LoadBalancerIDs, "load-balancer", nil, "load balancer IDs to attach instead of --port and --backend (the service takes their ports, zones and backends)")
	f.BoolVar(&req.AutoAcceptEnabled, "auto-accept", false, "accept connections without manual approval")
	f.BoolVar(&req.ZoneAffinityEnabled, "zone-affinity", false, "prefer backends in the endpoint's zone")
	f.BoolVar(&req.ProxyProtocol, "proxy-protocol", false, "send PROXY protocol v2 with Alibaba's TLV 0xE1")
	f.StringVar(&tlvs, "proxy-protocol-tlvs", "", tlvHelp)
	ipVersionCreateFlag(create, &req)
	f.IntVar(&req.ConnectBandwidth, "bandwidth", 0, bandwidthHelp)
	f.IntVar(&req.IdleTimeout, "idle-timeout", 900, "idle timeout in seconds")
	f.IntVar(&req.MaxConnsPerEndpoint, "max-connections", 0, maxConnsHelp)
	f.IntVar(&req.NewConnsPerSecond, "new-connections-per-second", 0, connRateHelp)
	f.StringVar(&req.Forwarding, "forwarding", "proxy", forwardingHelp)
	taggingFlags(create, &req.Tags, &req.ResourceGroupID)
	f.StringSliceVar(&allow, "allow", nil, "account IDs to allow-list")
	commonCreateFlags(create, &req.ClientToken, &req.DryRun)

	search := &cobra.Command{Use: "search [NAME]", Short: "Find services that allow-list you (consumer side)", Args: cobra.MaximumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		name := ""
		if len(args) == 1 {
			name = args[0]
		}
		return g.run(cmd, svcCols, func(ctx context.Context, c *client.Client) (any, error) { return listed(c.SearchServices(ctx, name)) })
	}}
	acct := ""
	allowCmd := &cobra.Command{Use: "allow SVC", Short: "Allow-list an account", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, svcCols, func(ctx context.Context, c *client.Client) (any, error) { return c.AllowAccount(ctx, args[0], acct) })
	}}
	allowCmd.Flags().StringVar(&acct, "account", "", "account ID")
	disallow := &cobra.Command{Use: "disallow SVC", Short: "Remove an account from the allow-list (disconnects its endpoints)", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, svcCols, func(ctx context.Context, c *client.Client) (any, error) { return c.DisallowAccount(ctx, args[0], acct) })
	}}
	disallow.Flags().StringVar(&acct, "account", "", "account ID")
	conns := &cobra.Command{Use: "connections SVC", Short: "List endpoint connections", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.run(cmd, connCols, func(ctx context.Context, c *client.Client) (any, error) {
			return listed(c.ListConnections(ctx, args[0]))
		})
	}}
	ep := ""
	decide := func(verb string, set func(*client.Client, context.Context, string, string) (api.Connection, error)) *cobra.Command {
		c := &cobra.Command{Use: verb + " SVC", Short: strings.ToUpper(verb[:1]) + verb[1:] + " an endpoint connection", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, connCols, func(ctx context.Context, c *client.Client) (any, error) { return set(c, ctx, args[0], ep) })
		}}
		c.Flags().StringVar(&ep, "endpoint", "", "endpoint ID")
		return c
	}
	var zone string
	zoneConn := func(verb string, disable bool) *cobra.Command {
		c := &cobra.Command{Use: verb + "-zone SVC", Short: strings.ToUpper(verb[:1]) + verb[1:] + " one zone of an endpoint's connection (a disabled zone carries no traffic and leaves DNS)",
			Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
				return g.run(cmd, connCols, func(ctx context.Context, c *client.Client) (any, error) {
					return c.SetZoneConnection(ctx, args[0], ep, zone, disable)
				})
			}}
		c.Flags().StringVar(&ep, "endpoint", "", "endpoint ID")
		c.Flags().StringVar(&zone, "zone", "", "zone ID")
		return c
	}
	var connBW int
	updConn := &cobra.Command{Use: "update-connection SVC", Short: "Set one endpoint's bandwidth cap (0: the service's --bandwidth)", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		if !cmd.Flags().Changed("bandwidth") {
			return errors.New("nothing to change: give --bandwidth")
		}
		return g.run(cmd, connCols, func(ctx context.Context, c *client.Client) (any, error) {
			return c.UpdateConnection(ctx, args[0], ep, api.UpdateConnectionRequest{Bandwidth: &connBW})
		})
	}}
	updConn.Flags().StringVar(&ep, "endpoint", "", "endpoint ID")
	updConn.Flags().IntVar(&connBW, "bandwidth", 0, "Mbps each direction for this endpoint, shared by its connections (0: the service's)")
	var upd struct {
		autoAccept, affinity, pp, tlvs, fwd string
		bw, maxConns, connRate              int
	}
	var setIPVersion func(*cobra.Command, *api.UpdateServiceRequest)
	update := &cobra.Command{Use: "update SVC", Short: "Change attributes", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		var r api.UpdateServiceRequest
		var err error
		if r.AutoAcceptEnabled, err = optBool(upd.autoAccept); err != nil {
			return err
		}
		if r.ZoneAffinityEnabled, err = optBool(upd.affinity); err != nil {
			return err
		}
		if r.ProxyProtocol, err = optBool(upd.pp); err != nil {
			return err
		}
		if cmd.Flags().Changed("bandwidth") {
			r.ConnectBandwidth = &upd.bw
		}
		if cmd.Flags().Changed("proxy-protocol-tlvs") {
			l := tlvList(upd.tlvs)
			r.ProxyProtocolTLVs = &l
		}
		if cmd.Flags().Changed("max-connections") {
			r.MaxConnsPerEndpoint = &upd.maxConns
		}
		if cmd.Flags().Changed("new-connections-per-second") {
			r.NewConnsPerSecond = &upd.connRate
		}
		if cmd.Flags().Changed("forwarding") {
			r.Forwarding = &upd.fwd
		}
		setIPVersion(cmd, &r)
		return g.run(cmd, svcCols, func(ctx context.Context, c *client.Client) (any, error) { return c.UpdateService(ctx, args[0], r) })
	}}
	update.Flags().StringVar(&upd.autoAccept, "auto-accept", "", "true or false")
	update.Flags().StringVar(&upd.affinity, "zone-affinity", "", "true or false")
	update.Flags().StringVar(&upd.pp, "proxy-protocol", "", "true or false")
	update.Flags().StringVar(&upd.tlvs, "proxy-protocol-tlvs", "", tlvHelp)
	update.Flags().IntVar(&upd.bw, "bandwidth", 0, bandwidthHelp)
	update.Flags().IntVar(&upd.maxConns, "max-connections", 0, maxConnsHelp)
	update.Flags().IntVar(&upd.connRate, "new-connections-per-second", 0, connRateHelp)
	update.Flags().StringVar(&upd.fwd, "forwarding", "", forwardingHelp)
	setIPVersion = ipVersionUpdateFlag(update)
	cmd.AddCommand(create, search, allowCmd, disallow, conns, decide("accept", (*client.Client).AcceptConnection), decide("reject", (*client.Client).RejectConnection), updConn, zoneConn("disable", true), zoneConn("enable", false), update)
	crud(g, cmd, svcCols, unfiltered((*client.Client).ListServices), (*client.Client).GetService, (*client.Client).DeleteService)
	return cmd
}

const tlvHelp = "TLVs in the PROXY header: comma-separated vpcId, endpointId, serviceId, or none (default vpcId,endpointId, which nginx before 1.23 accepts)"

// tlvList parses --proxy-protocol-tlvs; the server checks the names.
func tlvList(s string) []string {
	l := []string{}
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" && n != "none" {
			l = append(l, n)
		}
	}
	return l
}

// Help of the per-endpoint limits, shared by create and update.
const (
	bandwidthHelp  = "bandwidth cap per endpoint in Mbps, each direction, shared by all its connections (0 = none)"
	maxConnsHelp   = "concurrent connections per endpoint, all its ports (0 = the server's default); excess is reset"
	connRateHelp   = "new connections per second per endpoint, burst one second's worth (0 = the server's default); excess is reset"
	forwardingHelp = "proxy (terminating proxy), nat (kernel NAT; not with --proxy-protocol or the connection limits) or auto (nat unless the service needs the proxy)"
)

func optBool(s string) (*bool, error) {
	if s == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not true or false", s)
	}
	return &b, nil
}
