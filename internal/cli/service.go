package cli

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/apiserver"
	"github.com/privlink/privlink/internal/model"
)

func serviceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Manage endpoint services (provider side)"}
	var req apiserver.CreateServiceRequest
	var ports []int
	var backends, allow []string
	create := &cobra.Command{Use: "create", Short: "Publish an endpoint service", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		req.Ports = ports
		req.AllowedAccounts = allow
		req.Resources = nil
		for _, b := range backends {
			be, err := model.ParseBackend(b)
			if err != nil {
				return err
			}
			req.Resources = append(req.Resources, be)
		}
		return g.call(cmd, "POST", "/v1/services", req, svcCols)
	}}
	f := create.Flags()
	f.StringVar(&req.Description, "name", "", "description shown to consumers")
	f.StringVar(&req.VpcID, "vpc", "", "provider VPC where the backends live (default: the host network)")
	f.IntSliceVar(&ports, "port", nil, "listener port (repeatable)")
	f.StringArrayVar(&backends, "backend", nil, "backend ZONE=IP:PORT (repeatable; PORT may be omitted to use the listener port)")
	f.BoolVar(&req.AutoAcceptEnabled, "auto-accept", false, "accept connections without manual approval")
	f.BoolVar(&req.ZoneAffinityEnabled, "zone-affinity", false, "prefer backends in the endpoint's zone")
	f.BoolVar(&req.ProxyProtocol, "proxy-protocol", false, "send PROXY protocol v2 with Alibaba's TLV 0xE1")
	f.IntVar(&req.ConnectBandwidth, "bandwidth", 0, "per-connection bandwidth cap in Mbps (0 = none)")
	f.IntVar(&req.IdleTimeout, "idle-timeout", 900, "idle timeout in seconds")
	f.StringSliceVar(&allow, "allow", nil, "account IDs to allow-list")
	commonCreateFlags(create, &req.ClientToken, &req.DryRun)

	search := &cobra.Command{Use: "search [NAME]", Short: "Find services that allow-list you (consumer side)", Args: cobra.MaximumNArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		q := ""
		if len(args) == 1 {
			q = "?serviceName=" + url.QueryEscape(args[0])
		}
		return g.call(cmd, "GET", "/v1/service-search"+q, nil, svcCols)
	}}
	acct := ""
	allowCmd := &cobra.Command{Use: "allow SVC", Short: "Allow-list an account", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.call(cmd, "POST", "/v1/services/"+args[0]+"/allowed-accounts", apiserver.AllowRequest{AccountID: acct}, svcCols)
	}}
	allowCmd.Flags().StringVar(&acct, "account", "", "account ID")
	disallow := &cobra.Command{Use: "disallow SVC", Short: "Remove an account from the allow-list (disconnects its endpoints)", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.call(cmd, "DELETE", "/v1/services/"+args[0]+"/allowed-accounts/"+acct, nil, svcCols)
	}}
	disallow.Flags().StringVar(&acct, "account", "", "account ID")
	conns := &cobra.Command{Use: "connections SVC", Short: "List endpoint connections", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return g.call(cmd, "GET", "/v1/services/"+args[0]+"/connections", nil, connCols)
	}}
	ep := ""
	decide := func(verb string) *cobra.Command {
		c := &cobra.Command{Use: verb + " SVC", Short: strings.ToUpper(verb[:1]) + verb[1:] + " an endpoint connection", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd, "POST", "/v1/services/"+args[0]+"/connections/"+ep+"/"+verb, nil, connCols)
		}}
		c.Flags().StringVar(&ep, "endpoint", "", "endpoint ID")
		return c
	}
	var upd struct {
		autoAccept, affinity, pp string
		bw                       int
	}
	update := &cobra.Command{Use: "update SVC", Short: "Change attributes", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		var r apiserver.UpdateServiceRequest
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
		return g.call(cmd, "PATCH", "/v1/services/"+args[0], r, svcCols)
	}}
	update.Flags().StringVar(&upd.autoAccept, "auto-accept", "", "true or false")
	update.Flags().StringVar(&upd.affinity, "zone-affinity", "", "true or false")
	update.Flags().StringVar(&upd.pp, "proxy-protocol", "", "true or false")
	update.Flags().IntVar(&upd.bw, "bandwidth", 0, "Mbps (0 = none)")
	cmd.AddCommand(create, search, allowCmd, disallow, conns, decide("accept"), decide("reject"), update)
	crud(g, cmd, "/v1/services", svcCols)
	return cmd
}

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
