package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/resolver"
	"github.com/privlink/privlink/internal/server"
	"github.com/privlink/privlink/internal/store"
)

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func serverCmd() *cobra.Command {
	var cfg server.Config
	var agentZones []string
	var noAgents, cleanup bool
	var logLevel string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (embedded etcd unless --etcd-endpoints), API, console, and the zone agents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = newLogger(logLevel)
			if noAgents {
				cfg.AgentZones = []string{}
			} else if len(agentZones) > 0 {
				cfg.AgentZones = agentZones
			}
			cfg.Console = ConsoleHandler
			ctx, stop := signalContext()
			defer stop()
			s, err := server.Start(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "privlink server ready at %s (network %s); admin token in %s/admin.token\n", s.URL(), s.Driver.Name, cfg.DataDir)
			<-ctx.Done()
			s.Stop()
			if cleanup {
				return s.Driver.Topology.Cleanup()
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "state directory (embedded etcd, admin.token)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "API, console and /metrics address")
	f.StringVar(&cfg.Region, "region", "cn-hangzhou", "region ID")
	f.StringSliceVar(&cfg.Zones, "zones", []string{"cn-hangzhou-h", "cn-hangzhou-i"}, "zone IDs of the region")
	f.StringSliceVar(&agentZones, "agent-zones", nil, "zones whose agents run in this process (default: all)")
	f.BoolVar(&noAgents, "no-agents", false, "run no zone agent in this process")
	f.StringVar(&cfg.Network, "network", "", "data-plane driver: netns (root) or loopback (default: netns as root, else loopback)")
	f.StringVar(&cfg.NetnsPrefix, "netns-prefix", "pl", "prefix of namespace names")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "external etcd cluster (default: embedded)")
	f.StringVar(&cfg.EtcdClientURL, "etcd-listen-client", "http://127.0.0.1:2379", "embedded etcd client URL")
	f.StringVar(&cfg.EtcdPeerURL, "etcd-listen-peer", "http://127.0.0.1:2380", "embedded etcd peer URL")
	f.StringVar(&cfg.ServicePrefix, "service-prefix", "com.privlink", "service name prefix")
	f.StringVar(&cfg.DNSSuffix, "dns-suffix", "privatelink.internal", "PrivateLink DNS suffix")
	f.StringSliceVar(&cfg.DNSUpstreams, "dns-upstream", nil, "resolvers for names outside the PrivateLink zone (default: REFUSED)")
	f.BoolVar(&cleanup, "cleanup", false, "delete this instance's namespaces on exit")
	f.BoolVar(&cfg.Pprof, "debug-pprof", false, "serve Go's profiler at /debug/pprof/ on --listen")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func agentCmd() *cobra.Command {
	var zone, network, prefix, metricsAddr, logLevel, region, dnsSuffix string
	var endpoints, upstreams []string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run one zone agent against an etcd cluster (same machine as the zone's namespaces)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if zone == "" || len(endpoints) == 0 {
				return errors.New("--zone and --etcd-endpoints are required")
			}
			log := newLogger(logLevel).With("component", "agent")
			ctx, stop := signalContext()
			defer stop()
			drv, err := netdrv.New(network, prefix, log)
			if err != nil {
				return err
			}
			st, err := store.Open(ctx, store.Config{Endpoints: endpoints, Logger: log})
			if err != nil {
				return err
			}
			defer st.Close()
			reg := prometheus.NewRegistry()
			cache := store.NewCache(st, log)
			runCtx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go cache.Run(runCtx)
			a := agent.New(agent.Config{Zone: zone, Store: st, Cache: cache, Driver: drv, Metrics: proxy.NewMetrics(reg), Logger: log})
			server.RegisterAgentMetrics(reg, func() float64 {
				if a.Ready() {
					return 1
				}
				return 0
			})
			if metricsAddr != "" {
				ln, err := net.Listen("tcp", metricsAddr)
				if err != nil {
					return fmt.Errorf("metrics listen: %w", err)
				}
				srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
				go func() { _ = srv.Serve(ln) }()
				defer srv.Close()
			}
			go func() { _ = a.Run(runCtx) }()
			// The VPC resolver for VPCs with a vSwitch in this zone.
			dnsSrv, err := dns.New(dns.Config{Zone: region + "." + dnsSuffix, Upstreams: upstreams, Registerer: reg, Logger: log})
			if err != nil {
				return err
			}
			res := resolver.New(resolver.Config{Cache: cache, Sockets: drv.Sockets, DNS: dnsSrv, Logger: log, Zones: []string{zone}})
			go res.Run(runCtx)
			<-ctx.Done()
			cancel()
			<-a.Done()
			<-res.Done()
			return dnsSrv.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&zone, "zone", "", "zone ID this agent serves")
	f.StringSliceVar(&endpoints, "etcd-endpoints", nil, "etcd cluster URLs")
	f.StringVar(&network, "network", "netns", "netns or loopback")
	f.StringVar(&prefix, "netns-prefix", "pl", "prefix of namespace names (same as the server's)")
	f.StringVar(&metricsAddr, "metrics-listen", "", "address for /metrics (default: none)")
	f.StringVar(&region, "region", "cn-hangzhou", "region ID (same as the server's)")
	f.StringVar(&dnsSuffix, "dns-suffix", "privatelink.internal", "PrivateLink DNS suffix (same as the server's)")
	f.StringSliceVar(&upstreams, "dns-upstream", nil, "resolvers for names outside the PrivateLink zone (default: REFUSED)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
