package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/notify"
	"github.com/privlink/privlink/internal/store"
)

// Config is everything `privlink server` and `privlink agent` take.
type Config struct {
	// AgentOnly runs a standalone zone agent (`privlink agent`): a client of
	// an external etcd, the cache, the agents of AgentZones, their VPC
	// resolver and, if MetricsListen is set, the management listener. No
	// API, controllers, console or admin bootstrap.
	AgentOnly bool

	DataDir string
	Listen  string // the tenants' port: API and console (DefaultListen); agent-only: none
	// MetricsListen is the management listener: /metrics, /healthz,
	// /readyz and, with Pprof, /debug/pprof/; plain HTTP, no auth; "" = none.
	MetricsListen string
	// HandoffSocket (standalone agent only, zone or node) is a Unix socket path: an
	// agent started with the path of a running one takes over from it
	// (its listening sockets, management listener and lease) without its
	// endpoints ever refusing a connection, then serves the path for its
	// own successor (package handoff).
	HandoffSocket string
	// Keeper (standalone agent only) is the connection to the socket keeper
	// this process runs under (package keeper; the keeper sets it through
	// its environment): the agent takes over what its predecessor kept and
	// reports its sockets and lease to the keeper as they change.
	Keeper *os.File
	// DrainTimeout is how long an agent that handed over lets its open
	// connections run (0: agent.DefaultDrainTimeout).
	DrainTimeout time.Duration
	// The API's TLS: a certificate chain and key (PEM files), or
	// TLSSelfSigned: one issued once into DataDir/pki/api.crt|api.key. With
	// neither, Listen must be a loopback address unless InsecureHTTP (a
	// TLS-terminating proxy in front): bearer tokens never cross a network
	// in clear by default.
	TLSCert, TLSKey string
	TLSSelfSigned   bool
	InsecureHTTP    bool
	Region          string
	Zones           []string
	AgentZones      []string // zones whose agents run in-process; nil = all, empty slice = none
	Network         string   // netns | loopback (DefaultNetwork)
	NetnsPrefix     string   // namespace name prefix (DefaultNetnsPrefix)
	EtcdEndpoints   []string
	EtcdClientURL   string // embedded etcd, served over TLS (DefaultEtcdClientURL)
	EtcdPeerURL     string
	// EtcdMember makes the embedded etcd one member of a cluster of
	// machines (--etcd-name, --etcd-initial-cluster, …); zero: the single
	// member of a one-machine install. Its Token defaults to
	// "privlink-<region>" when InitialCluster is given.
	EtcdMember store.Member
	// EtcdQuotaBytes is the embedded etcd's backend quota (0:
	// store.DefaultQuotaBytes, 2 GiB; at most store.MaxQuotaBytes).
	EtcdQuotaBytes int64
	// The etcd client's credentials for EtcdEndpoints (the embedded etcd
	// makes its own, in DataDir/pki): PEM files and etcd auth.
	EtcdCACert, EtcdCert, EtcdKey string
	EtcdUser, EtcdPassword        string
	ServicePrefix                 string
	DNSSuffix                     string
	DNSUpstreams                  []string
	Logger                        *slog.Logger
	// Console, when set, is mounted at /console/; it gets the API handler.
	Console func(apiHandler http.Handler) http.Handler
	// WebhookAllow are the CIDRs webhook subscriptions may deliver to;
	// none: public unicast addresses only (no loopback, private,
	// link-local or CGNAT address).
	WebhookAllow []string
	// Webhook tunes the delivery worker (zero fields: notify's defaults;
	// Store, Logger and Allow are set by the server).
	Webhook notify.Config
	// Pprof mounts Go's profiler at /debug/pprof/ on MetricsListen (off
	// by default).
	Pprof bool
	// StartupCPUProfile, when set, is a file that Start writes a CPU
	// profile of the start-up to, from Start until ready (or failed).
	StartupCPUProfile string
	// ProxyFDs is the data plane's descriptor budget; 0 = RLIMIT_NOFILE
	// (raised to its hard limit) less proxy.DefaultReserveFDs and the
	// engine's idle pipes.
	ProxyFDs int
	// EndpointMaxConns and EndpointNewConnsPerSec are the per-endpoint
	// limits of services that set none (0 = none but the budget's share).
	EndpointMaxConns, EndpointNewConnsPerSec int
	// TrafficReportEvery is how often zone agents write their endpoints'
	// traffic reports (0: agent.DefaultTrafficEvery, a minute).
	TrafficReportEvery time.Duration
	// EndpointFDShare is the fraction of the descriptor budget one
	// endpoint may hold (0 = proxy.DefaultEndpointShare).
	EndpointFDShare float64
	// Node makes this process's data plane one node of a region across
	// machines (docs/design/multinode.md): one node agent for the single
	// zone of AgentZones instead of zone agents. "" with UnderlayAddr set
	// is the hostname; "" without it is a region without nodes, as before.
	Node string
	// UnderlayAddr is the node's IPv4 address on the network between
	// nodes ("" = a node without overlay, the region's only node).
	UnderlayAddr string
	// UnderlayMTU overrides the underlay link's MTU (0: read it); VPC
	// links get it less the 50 bytes of VXLAN.
	UnderlayMTU int
	// NodeLeaseTTL is how long a lost node stays Ready (0: 3 s).
	NodeLeaseTTL time.Duration
}

// etcdCredentials are the store client's credentials for EtcdEndpoints.
func (c *Config) etcdCredentials() store.Credentials {
	return store.Credentials{CACert: c.EtcdCACert, Cert: c.EtcdCert, Key: c.EtcdKey, Username: c.EtcdUser, Password: c.EtcdPassword}
}

// defaults fills what is unset from the Default* values and checks the rest.
func (c *Config) defaults() error {
	if c.Listen == "" && !c.AgentOnly {
		c.Listen = DefaultListen
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	switch {
	case c.AgentOnly && len(c.Zones) == 0:
		c.Zones = c.AgentZones // a standalone agent knows only its own zone
	case len(c.Zones) == 0:
		c.Zones = ZonesOf(c.Region)
	}
	if c.AgentZones == nil && !c.AgentOnly {
		c.AgentZones = c.Zones
	}
	if c.Network == "" {
		c.Network = DefaultNetwork()
	}
	if c.NetnsPrefix == "" {
		c.NetnsPrefix = DefaultNetnsPrefix
	}
	if c.EtcdClientURL == "" {
		c.EtcdClientURL = DefaultEtcdClientURL
	}
	if c.EtcdPeerURL == "" {
		c.EtcdPeerURL = DefaultEtcdPeerURL
	}
	if c.EtcdMember.InitialCluster != "" && c.EtcdMember.Token == "" {
		c.EtcdMember.Token = "privlink-" + c.Region
	}
	if c.ServicePrefix == "" {
		c.ServicePrefix = DefaultServicePrefix
	}
	if c.DNSSuffix == "" {
		c.DNSSuffix = DefaultDNSSuffix
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.AgentOnly && (len(c.EtcdEndpoints) == 0 || len(c.AgentZones) == 0):
		return errors.New("a standalone agent needs its zone and --etcd-endpoints")
	case !c.AgentOnly && c.DataDir == "" && len(c.EtcdEndpoints) == 0:
		return errors.New("--data-dir is required (or --etcd-endpoints for an external etcd)")
	case c.EtcdQuotaBytes < 0 || c.EtcdQuotaBytes > store.MaxQuotaBytes:
		return fmt.Errorf("--etcd-quota-bytes %d: give 1 to %d (8 GiB, etcd's recommended maximum), or 0 for 2 GiB", c.EtcdQuotaBytes, store.MaxQuotaBytes)
	case len(c.EtcdEndpoints) > 0 && c.EtcdQuotaBytes != 0:
		return errors.New("--etcd-quota-bytes sizes the embedded etcd; an external cluster has its own --quota-backend-bytes")
	case c.ProxyFDs < 0 || c.EndpointMaxConns < 0 || c.EndpointNewConnsPerSec < 0:
		return errors.New("--proxy-fds, --endpoint-max-connections and --endpoint-new-connections-per-second must not be negative")
	case c.EndpointFDShare < 0 || c.EndpointFDShare > 1:
		return errors.New("--endpoint-fd-share must be in (0, 1]")
	case len(c.EtcdEndpoints) > 0 && clusterMember(c.EtcdMember):
		return errors.New("--etcd-name, --etcd-initial-cluster* and --etcd-advertise-* make the embedded etcd a cluster member; --etcd-endpoints uses an external cluster instead")
	case len(c.EtcdEndpoints) == 0 && c.etcdCredentials() != store.Credentials{}:
		return errors.New("--etcd-cacert, --etcd-cert, --etcd-key, --etcd-user and --etcd-password go with --etcd-endpoints (the embedded etcd's files are in --data-dir)")
	}
	if c.HandoffSocket != "" && (!c.AgentOnly || len(c.AgentZones) != 1) {
		return errors.New("--handoff-socket is for a standalone agent (privlink agent --zone, with or without --node)")
	}
	if c.Keeper != nil && (!c.AgentOnly || len(c.AgentZones) != 1) {
		return errors.New("a socket keeper runs one standalone agent (privlink agent --socket-keeper)")
	}
	if err := c.checkListeners(); err != nil {
		return err
	}
	if err := c.checkNode(); err != nil {
		return err
	}
	for _, z := range c.AgentZones {
		if !slices.Contains(c.Zones, z) {
			return fmt.Errorf("agent zone %q is not one of --zones %v", z, c.Zones)
		}
	}
	return nil
}

// checkListeners checks the listeners' flags against each other.
func (c *Config) checkListeners() error {
	tlsOn := c.TLSCert != "" || c.TLSKey != "" || c.TLSSelfSigned
	switch {
	case c.AgentOnly && (c.Listen != "" || tlsOn):
		return errors.New("a standalone agent serves no API: give --metrics-listen for its /metrics, /healthz and /readyz")
	case c.Pprof && c.MetricsListen == "":
		return errors.New("--debug-pprof serves on the management listener: give --metrics-listen")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case c.TLSSelfSigned && c.TLSCert != "":
		return errors.New("--tls-self-signed or --tls-cert/--tls-key, not both")
	case c.TLSSelfSigned && c.DataDir == "":
		return errors.New("--tls-self-signed keeps its certificate in --data-dir/pki: give --data-dir")
	case tlsOn && c.InsecureHTTP:
		return errors.New("--insecure-http contradicts --tls-cert/--tls-self-signed")
	case c.AgentOnly || c.Listen == "" || tlsOn || c.InsecureHTTP || loopback(c.Listen):
		return nil
	}
	return fmt.Errorf("--listen %s is not a loopback address and the API has no TLS: bearer tokens would cross the network in clear; "+
		"give --tls-cert and --tls-key, or --tls-self-signed (a lab), or --insecure-http if a TLS-terminating proxy is in front", c.Listen)
}

// loopback reports whether a listen address binds only loopback.
func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clusterMember reports whether m says more than the flags' defaults: the
// embedded etcd is to be a member of a cluster.
func clusterMember(m store.Member) bool {
	return m.Name != "" && m.Name != store.DefaultMemberName || m.InitialCluster != "" || m.ClusterState == "existing" ||
		m.Token != "" || m.AdvertiseClientURL != "" || m.AdvertisePeerURL != ""
}

// checkNode fills the node name (the hostname when only --underlay-addr
// is given) and checks the node flags.
func (c *Config) checkNode() error {
	if c.Node == "" && c.UnderlayAddr != "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name from the hostname: %w (give --node)", err)
		}
		c.Node = h
	}
	if c.Node == "" {
		if c.UnderlayMTU != 0 || c.NodeLeaseTTL != 0 {
			return errors.New("--underlay-mtu and --node-lease-ttl go with --node or --underlay-addr")
		}
		return nil
	}
	switch {
	case !model.ValidNodeName(c.Node):
		return fmt.Errorf("--node %q: 1-63 letters, digits, '.', '_' or '-'", c.Node)
	case len(c.AgentZones) != 1:
		return fmt.Errorf("node %s serves one zone: give it with --zone (agent zones %v)", c.Node, c.AgentZones)
	case c.UnderlayMTU != 0 && (c.UnderlayMTU < 1280+50 || c.UnderlayMTU > 65535):
		return fmt.Errorf("--underlay-mtu %d: give 1330 to 65535", c.UnderlayMTU)
	case c.NodeLeaseTTL < 0 || c.NodeLeaseTTL > 0 && c.NodeLeaseTTL < time.Second:
		return fmt.Errorf("--node-lease-ttl %v: at least 1s", c.NodeLeaseTTL)
	}
	if c.UnderlayAddr != "" {
		if _, err := c.underlay(); err != nil {
			return err
		}
	}
	return nil
}

// underlay parses UnderlayAddr (the zero Addr when empty).
func (c *Config) underlay() (netip.Addr, error) {
	if c.UnderlayAddr == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(c.UnderlayAddr)
	if err != nil || !a.Is4() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
		return netip.Addr{}, fmt.Errorf("--underlay-addr %q: want this machine's IPv4 unicast address on the network between nodes", c.UnderlayAddr)
	}
	return a, nil
}
