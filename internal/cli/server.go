package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/keeper"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/proxy"
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

// etcdClientFlags are the etcd client's credentials, for --etcd-endpoints.
func etcdClientFlags(f *pflag.FlagSet, cfg *server.Config) {
	f.StringVar(&cfg.EtcdCACert, "etcd-cacert", "", "CA bundle (PEM) that verifies the etcd servers (embedded etcd: <data-dir>/pki/ca.crt)")
	f.StringVar(&cfg.EtcdCert, "etcd-cert", "", "client certificate (PEM) for etcd (embedded etcd: <data-dir>/pki/client.crt)")
	f.StringVar(&cfg.EtcdKey, "etcd-key", "", "key of --etcd-cert (embedded etcd: <data-dir>/pki/client.key)")
	f.StringVar(&cfg.EtcdUser, "etcd-user", "", "etcd auth user, for clusters that enable it")
	f.StringVar(&cfg.EtcdPassword, "etcd-password", "", "etcd auth password (default: $"+server.DefaultEtcdPasswordEnv+")")
}

// dataPlaneFlags are the data plane's limits, for the server and agents.
func dataPlaneFlags(f *pflag.FlagSet, cfg *server.Config) {
	f.IntVar(&cfg.ProxyFDs, "proxy-fds", 0, "file descriptors the data plane may hold (default: RLIMIT_NOFILE less 1024 for the API, etcd and DNS)")
	f.IntVar(&cfg.EndpointMaxConns, "endpoint-max-connections", 0, "concurrent connections per endpoint for services that set none (0 = its share of the descriptor budget)")
	f.Float64Var(&cfg.EndpointFDShare, "endpoint-fd-share", proxy.DefaultEndpointShare, "fraction of the descriptor budget one endpoint may hold (0 < f <= 1)")
	f.IntVar(&cfg.EndpointNewConnsPerSec, "endpoint-new-connections-per-second", 0, "new connections per second per endpoint for services that set none (0 = unlimited)")
}

// nodeFlags make the data plane one node of a region across machines.
func nodeFlags(f *pflag.FlagSet, cfg *server.Config) {
	f.StringVar(&cfg.Node, "node", "", "this machine's node name in a region across machines (default with --underlay-addr: the hostname; none: a single machine, as before)")
	f.StringVar(&cfg.UnderlayAddr, "underlay-addr", "", "this node's IPv4 address on the network between nodes (VXLAN to the other nodes)")
	f.IntVar(&cfg.UnderlayMTU, "underlay-mtu", 0, "MTU of the network between nodes (default: the MTU of the link holding --underlay-addr); VPC links get 50 bytes less")
	f.DurationVar(&cfg.NodeLeaseTTL, "node-lease-ttl", 0, "how long a lost node still counts as Ready (default 3s)")
}

// etcdPasswordFromEnv fills the etcd password from the environment, so
// that it need not show on the command line.
func etcdPasswordFromEnv(cfg *server.Config) {
	if cfg.EtcdPassword == "" {
		cfg.EtcdPassword = os.Getenv(server.DefaultEtcdPasswordEnv)
	}
}

// etcdMemberFlags make the embedded etcd one member of a cluster of
// machines (docs/design/multinode.md §6).
func etcdMemberFlags(f *pflag.FlagSet, m *store.Member) {
	f.StringVar(&m.Name, "etcd-name", store.DefaultMemberName, "embedded etcd member name, unique in the cluster")
	f.StringVar(&m.InitialCluster, "etcd-initial-cluster", "", "every member at bootstrap: m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380,… (default: this member alone)")
	f.StringVar(&m.ClusterState, "etcd-initial-cluster-state", "new", "new (bootstrap) or existing (join a running cluster after `etcdctl member add`)")
	f.StringVar(&m.Token, "etcd-initial-cluster-token", "", "keeps clusters bootstrapped from the same URLs apart (default with --etcd-initial-cluster: privlink-<region>)")
	f.StringVar(&m.AdvertiseClientURL, "etcd-advertise-client", "", "client URL the other members and clients dial (default: --etcd-listen-client)")
	f.StringVar(&m.AdvertisePeerURL, "etcd-advertise-peer", "", "peer URL the other members dial (default: --etcd-listen-peer)")
}

func serverCmd() *cobra.Command {
	var cfg server.Config
	var agentZones []string
	var nodeZone string
	var noAgents, cleanup bool
	var logLevel string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane (embedded etcd unless --etcd-endpoints), API, console, and the zone agents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = newLogger(logLevel)
			etcdPasswordFromEnv(&cfg)
			switch {
			case nodeZone != "" && (noAgents || len(agentZones) > 0):
				return errors.New("--zone is the zone of this machine's node: it replaces --agent-zones and --no-agents")
			case nodeZone != "":
				cfg.AgentZones = []string{nodeZone}
			case noAgents:
				cfg.AgentZones = []string{}
			case len(agentZones) > 0:
				cfg.AgentZones = agentZones
			}
			cfg.Console = ConsoleHandler
			if cfg.StartupCPUProfile == "" {
				cfg.StartupCPUProfile = os.Getenv(server.StartupCPUProfileEnv)
			}
			ctx, stop := signalContext()
			defer stop()
			s, err := server.Start(ctx, cfg)
			if err != nil {
				return err
			}
			tokenAt := fmt.Sprintf("admin token in %s/admin.token", cfg.DataDir)
			if _, err := os.Stat(filepath.Join(cfg.DataDir, "admin.token")); err != nil {
				tokenAt = "the admin token is on the member that bootstrapped the region (its <data-dir>/admin.token)"
			}
			fmt.Fprintf(os.Stderr, "privlink server ready at %s (network %s); %s\n", s.URL(), s.Driver.Name, tokenAt)
			printTLS(s)
			if u := s.MetricsURL(); u != "" {
				fmt.Fprintf(os.Stderr, "management listener (/metrics, /healthz, /readyz; plain HTTP, no auth) at %s\n", u)
			}
			if s.Store.Embedded() {
				c := s.Store.Credentials()
				eps := s.Store.Endpoints()
				mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				if all, err := s.Store.MemberEndpoints(mctx); err == nil && len(all) > 0 {
					eps = all // every member of the cluster
				}
				cancel()
				fmt.Fprintf(os.Stderr, "embedded etcd (TLS, client certificates only); agents and second servers join with:\n"+
					"  --etcd-endpoints %s --etcd-cacert %s --etcd-cert %s --etcd-key %s\n",
					strings.Join(eps, ","), c.CACert, c.Cert, c.Key)
			}
			<-ctx.Done()
			if cleanup {
				return s.StopAndCleanup()
			}
			s.Stop()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "state directory (embedded etcd, admin.token)")
	f.StringVar(&cfg.Listen, "listen", server.DefaultListen, "API and console address (a non-loopback one needs TLS or --insecure-http)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "", "management listener for /metrics, /healthz, /readyz and --debug-pprof, e.g. "+server.SuggestedMetricsListen+" (default: none)")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "serve the API and console over TLS with this certificate chain (PEM)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "key of --tls-cert (PEM)")
	f.BoolVar(&cfg.TLSSelfSigned, "tls-self-signed", false, "serve over TLS with a self-signed certificate issued once in <data-dir>/pki/api.crt (labs; clients pass --cacert with it)")
	f.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "allow plain HTTP on a non-loopback --listen (only behind a TLS-terminating proxy)")
	f.StringSliceVar(&cfg.WebhookAllow, "webhook-allow", nil, "CIDRs webhook notifications may be delivered to, e.g. 10.1.0.0/16,127.0.0.1/32 (default: public unicast addresses only)")
	f.StringVar(&cfg.Region, "region", server.DefaultRegion, "region ID")
	f.StringSliceVar(&cfg.Zones, "zones", server.DefaultZones(), "zone IDs of the region")
	f.StringSliceVar(&agentZones, "agent-zones", nil, "zones whose agents run in this process (default: all)")
	f.BoolVar(&noAgents, "no-agents", false, "run no zone agent in this process")
	f.StringVar(&nodeZone, "zone", "", "zone of this machine's node (with --node or --underlay-addr)")
	nodeFlags(f, &cfg)
	f.StringVar(&cfg.Network, "network", "", "data-plane driver: netns (root) or loopback (default: netns as root, else loopback)")
	f.StringVar(&cfg.NetnsPrefix, "netns-prefix", server.DefaultNetnsPrefix, "prefix of namespace names")
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "external etcd cluster (default: embedded)")
	etcdClientFlags(f, &cfg)
	dataPlaneFlags(f, &cfg)
	f.StringVar(&cfg.EtcdClientURL, "etcd-listen-client", server.DefaultEtcdClientURL, "embedded etcd client URL (always served over TLS)")
	f.StringVar(&cfg.EtcdPeerURL, "etcd-listen-peer", server.DefaultEtcdPeerURL, "embedded etcd peer URL (always served over TLS)")
	etcdMemberFlags(f, &cfg.EtcdMember)
	f.Int64Var(&cfg.EtcdQuotaBytes, "etcd-quota-bytes", 0, "embedded etcd's backend quota in bytes; past it etcd refuses writes (NOSPACE) until compacted, defragmented and disarmed (0: 2 GiB, etcd's default; at most 8 GiB)")
	f.StringVar(&cfg.ServicePrefix, "service-prefix", server.DefaultServicePrefix, "service name prefix")
	f.StringVar(&cfg.DNSSuffix, "dns-suffix", server.DefaultDNSSuffix, "PrivateLink DNS suffix")
	f.StringSliceVar(&cfg.DNSUpstreams, "dns-upstream", nil, "resolvers for names outside the PrivateLink zone (default: REFUSED)")
	f.BoolVar(&cleanup, "cleanup", false, "delete this instance's namespaces on exit")
	f.BoolVar(&cfg.Pprof, "debug-pprof", false, "serve Go's profiler at /debug/pprof/ on --metrics-listen")
	f.StringVar(&cfg.StartupCPUProfile, "startup-cpuprofile", "", "write a CPU profile of the start-up (until ready) to this file (default: $"+server.StartupCPUProfileEnv+")")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func agentCmd() *cobra.Command {
	cfg := server.Config{AgentOnly: true}
	var zone, logLevel string
	var socketKeeper bool
	var keeperGrace time.Duration
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run one zone agent, or with --node one node of a region across machines, against an etcd cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if zone == "" || len(cfg.EtcdEndpoints) == 0 {
				return errors.New("--zone and --etcd-endpoints are required")
			}
			cfg.AgentZones = []string{zone}
			etcdPasswordFromEnv(&cfg)
			cfg.Logger = newLogger(logLevel).With("component", "agent")
			ctx, stop := signalContext()
			defer stop()
			if socketKeeper {
				k, err := keeperConn()
				if err != nil {
					return err
				}
				if k == nil { // this process is the keeper
					return runKeeper(ctx, keeperGrace, cfg.HandoffSocket != "", newLogger(logLevel).With("component", "keeper"))
				}
				cfg.Keeper = k
			}
			s, err := server.Start(ctx, cfg)
			if err != nil {
				return err
			}
			select {
			case <-ctx.Done():
			case <-s.HandedOver():
				cfg.Logger.Info("handed over to the successor; draining", "drainTimeout", s.Config().DrainTimeout)
			}
			s.Stop()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&zone, "zone", "", "zone ID this agent serves (with --node: the node's zone)")
	f.StringVar(&cfg.HandoffSocket, "handoff-socket", "", "Unix socket path for restarts without refusing a connection: an agent started with the path of a running one takes over its sockets and lease, which then drains and exits")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", agent.DefaultDrainTimeout, "after handing over, how long open connections may run before they are closed")
	f.BoolVar(&socketKeeper, "socket-keeper", false, "run the agent under a small parent process that holds its listening sockets and lease: if the agent dies (crash, OOM kill), another takes them over and clients wait instead of being refused; with --handoff-socket, SIGHUP to it replaces the agent by handoff (an upgrade)")
	f.DurationVar(&keeperGrace, "keeper-grace", keeper.DefaultGrace, "with --socket-keeper: how long the held sockets wait for a new agent after a crash before they are closed")
	nodeFlags(f, &cfg)
	f.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "etcd cluster URLs")
	etcdClientFlags(f, &cfg)
	dataPlaneFlags(f, &cfg)
	f.StringVar(&cfg.Network, "network", netdrv.Netns, "netns or loopback")
	f.StringVar(&cfg.NetnsPrefix, "netns-prefix", server.DefaultNetnsPrefix, "prefix of namespace names (same as the server's)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "", "management listener: /metrics, /healthz, /readyz (default: none)")
	f.BoolVar(&cfg.Pprof, "debug-pprof", false, "serve Go's profiler at /debug/pprof/ on --metrics-listen")
	f.StringVar(&cfg.StartupCPUProfile, "startup-cpuprofile", "", "write a CPU profile of the start-up (until ready) to this file (default: $"+server.StartupCPUProfileEnv+")")
	f.StringVar(&cfg.Region, "region", server.DefaultRegion, "region ID (same as the server's)")
	f.StringVar(&cfg.DNSSuffix, "dns-suffix", server.DefaultDNSSuffix, "PrivateLink DNS suffix (same as the server's)")
	f.StringSliceVar(&cfg.DNSUpstreams, "dns-upstream", nil, "resolvers for names outside the PrivateLink zone (default: REFUSED)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// printTLS tells the operator what clients need to trust the API.
func printTLS(s *server.Server) {
	t := s.TLS()
	switch {
	case t == nil:
		return
	case t.SelfSigned:
		fmt.Fprintf(os.Stderr, "API over TLS with a self-signed certificate %s\n  SHA-256 fingerprint %s\n"+
			"  clients: privlink --cacert %s (or export PRIVLINK_CACERT=%s)\n", t.CertFile, t.Fingerprint, t.CertFile, t.CertFile)
	default:
		fmt.Fprintf(os.Stderr, "API over TLS with %s (SHA-256 fingerprint %s)\n", t.CertFile, t.Fingerprint)
	}
}

// keeperConn is the connection to this process's socket keeper (nil: this
// process is the keeper).
func keeperConn() (*os.File, error) {
	v := os.Getenv(keeper.EnvFD)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(keeper.EnvFD)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("$%s=%q: not a descriptor", keeper.EnvFD, v)
	}
	return os.NewFile(uintptr(fd), "socket keeper"), nil
}

// runKeeper runs this process as the socket keeper of an agent started
// with the same arguments (package keeper). SIGHUP reloads: a new agent
// (the binary now at this path) takes over from the running one by
// handoff, which needs --handoff-socket.
func runKeeper(ctx context.Context, grace time.Duration, canReload bool, log *slog.Logger) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("socket keeper: %w", err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	noReload := ""
	if !canReload {
		noReload = "a reload needs --handoff-socket"
	}
	return keeper.Run(ctx, keeper.Config{Grace: grace, Logger: log, Reload: hup, NoReload: noReload, Command: func() *exec.Cmd {
		cmd := exec.Command(exe, os.Args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		return cmd
	}})
}
