// Package server wires one privlink control-plane process: the store
// (embedded or external etcd), the REST API, the controllers, the in-process
// zone agents, the per-VPC DNS and the web console, with an explicit
// lifecycle: Start (ready when it returns), then Stop.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/apiserver"
	"github.com/privlink/privlink/internal/controller"
	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/resolver"
	"github.com/privlink/privlink/internal/store"
)

// Config is everything `privlink server` takes.
type Config struct {
	DataDir       string
	Listen        string // API/console/metrics address, default 127.0.0.1:8080
	Region        string
	Zones         []string
	AgentZones    []string // zones whose agents run in-process; nil = all, empty slice = none
	Network       string   // netns | loopback
	NetnsPrefix   string   // namespace name prefix, default "pl"
	EtcdEndpoints []string
	EtcdClientURL string
	EtcdPeerURL   string
	ServicePrefix string
	DNSSuffix     string
	DNSUpstreams  []string
	Logger        *slog.Logger
	// Console, when set, is mounted at /console/; it gets the API handler.
	Console func(apiHandler http.Handler) http.Handler
	// Pprof mounts Go's profiler at /debug/pprof/ (off by default).
	Pprof bool
}

// Server is a running privlink server.
type Server struct {
	cfg    Config
	Store  *store.Store
	Cache  *store.Cache
	API    *apiserver.API
	Driver netdrv.Driver
	Agents map[string]*agent.Agent
	DNS    *dns.Server

	http     *http.Server
	ln       net.Listener
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	log      *slog.Logger
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Region == "" {
		c.Region = "cn-hangzhou"
	}
	if len(c.Zones) == 0 {
		c.Zones = []string{c.Region + "-h", c.Region + "-i"}
	}
	if c.AgentZones == nil {
		c.AgentZones = c.Zones
	}
	if c.Network == "" {
		c.Network = "netns"
		if os.Geteuid() != 0 {
			c.Network = "loopback"
		}
	}
	if c.NetnsPrefix == "" {
		c.NetnsPrefix = "pl"
	}
	if c.ServicePrefix == "" {
		c.ServicePrefix = "com.privlink"
	}
	if c.DNSSuffix == "" {
		c.DNSSuffix = "privatelink.internal"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DataDir == "" && len(c.EtcdEndpoints) == 0 {
		return errors.New("--data-dir is required (or --etcd-endpoints for an external etcd)")
	}
	for _, z := range c.AgentZones {
		found := false
		for _, zz := range c.Zones {
			found = found || z == zz
		}
		if !found {
			return fmt.Errorf("agent zone %q is not one of --zones %v", z, c.Zones)
		}
	}
	return nil
}

// NewDriver builds the network driver named by network.
func NewDriver(network, prefix string, log *slog.Logger) (netdrv.Driver, error) {
	switch network {
	case "netns":
		return netdrv.NewNetns(prefix, log)
	case "loopback":
		return netdrv.NewLoopback(log), nil
	default:
		return nil, fmt.Errorf("unknown --network %q (netns or loopback)", network)
	}
}

// Start brings every component up and returns when the server is ready:
// API listening, agents synced, DNS serving.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	s := &Server{cfg: cfg, log: log, Agents: map[string]*agent.Agent{}}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	drv, err := NewDriver(cfg.Network, cfg.NetnsPrefix, log)
	if err != nil {
		return nil, err
	}
	s.Driver = drv
	s.Store, err = store.Open(ctx, store.Config{Endpoints: cfg.EtcdEndpoints, DataDir: cfg.DataDir,
		ClientURL: cfg.EtcdClientURL, PeerURL: cfg.EtcdPeerURL, Logger: log})
	if err != nil {
		return nil, err
	}
	if cfg.DataDir != "" {
		created, err := apiserver.Bootstrap(ctx, s.Store, cfg.DataDir)
		if err != nil {
			return nil, err
		}
		if created {
			log.Info("admin account created", "tokenFile", cfg.DataDir+"/admin.token")
		}
	}
	naming := model.Naming{Region: cfg.Region, ServicePrefix: cfg.ServicePrefix, DNSSuffix: cfg.DNSSuffix}
	s.API = apiserver.New(apiserver.Config{Store: s.Store, Naming: naming, Zones: cfg.Zones, Logger: log, Network: drv.Name(), NetnsPrefix: cfg.NetnsPrefix})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.Cache = store.NewCache(s.Store, log)
	s.goRun(func() { s.Cache.Run(runCtx) })
	s.goRun(func() { controller.NewStatus(s.Store, s.Cache, log).Run(runCtx) })

	metrics := proxy.NewMetrics(reg)
	RegisterAgentMetrics(reg, s.agentReady)
	for _, z := range cfg.AgentZones {
		a := agent.New(agent.Config{Zone: z, Store: s.Store, Cache: s.Cache, Driver: drv, Metrics: metrics, Logger: log})
		s.Agents[z] = a
		s.goRun(func() { _ = a.Run(runCtx) })
	}
	if len(cfg.AgentZones) > 0 {
		s.DNS, err = dns.New(dns.Config{Zone: naming.Zone(), Upstreams: cfg.DNSUpstreams, Registerer: reg, Logger: log})
		if err != nil {
			return nil, err
		}
		r := resolver.New(resolver.Config{Cache: s.Cache, Driver: drv, DNS: s.DNS, Logger: log, Zones: cfg.AgentZones})
		s.goRun(func() { r.Run(runCtx) })
	}

	mux := http.NewServeMux()
	mux.Handle("/v1/", s.API)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if cfg.Console != nil {
		h := cfg.Console(s.API)
		mux.Handle("/console/", h)
		mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	}
	s.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	s.goRun(func() {
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http serve", "err", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !s.Ready() {
		if time.Now().After(deadline) {
			return nil, errors.New("server did not become ready in 30s (store sync or agents)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ok = true
	log.Info("privlink server ready", "listen", s.URL(), "region", cfg.Region, "zones", cfg.Zones, "network", drv.Name())
	return s, nil
}

func (s *Server) goRun(f func()) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f() }()
}

func (s *Server) agentReady() float64 {
	n := 0
	for _, a := range s.Agents {
		if a.Ready() {
			n++
		}
	}
	return float64(n)
}

// Ready reports whether the store is synced and every in-process agent too.
func (s *Server) Ready() bool {
	if s.Cache == nil || !s.Cache.IsSynced() {
		return false
	}
	for _, a := range s.Agents {
		if !a.Ready() {
			return false
		}
	}
	return true
}

// URL is the base URL of the API.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Config returns the effective configuration.
func (s *Server) Config() Config { return s.cfg }

// Stop shuts everything down; namespaces stay (see Driver.Cleanup).
// It is safe to call more than once.
func (s *Server) Stop() { s.stopOnce.Do(s.stop) }

func (s *Server) stop() {
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.DNS != nil {
		_ = s.DNS.Close()
	}
	if s.Store != nil {
		s.Store.Close()
	}
}
