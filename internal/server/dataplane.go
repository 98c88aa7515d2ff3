package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/resolver"
)

// startDataPlane runs a zone agent per agent zone and, when there is one,
// the resolver for the VPCs with a vSwitch in those zones. The agents are
// the only writers of the driver's topology (they create or adopt every VPC
// namespace the resolver serves in); the resolver gets the sockets only.
func (s *Server) startDataPlane(ctx context.Context, reg *prometheus.Registry, naming model.Naming) error {
	metrics := proxy.NewMetrics(reg)
	RegisterAgentMetrics(reg, s.agentReady)
	var budget *proxy.Budget
	if len(s.cfg.AgentZones) > 0 {
		budget = s.proxyBudget(reg)
	}
	node, err := s.nodeConfig(ctx)
	if err != nil {
		return err
	}
	for _, z := range s.cfg.AgentZones {
		a := agent.New(agent.Config{Zone: z, Store: s.Store, Cache: s.Cache, Driver: s.Driver, Metrics: metrics, Logger: s.log,
			Budget: budget, MaxConnsPerEndpoint: s.cfg.EndpointMaxConns, NewConnsPerSecond: s.cfg.EndpointNewConnsPerSec,
			TrafficEvery: s.cfg.TrafficReportEvery, Node: node, LeaseTTL: s.cfg.NodeLeaseTTL,
			// A process that stops leaves its kernel NAT flows serving; the
			// next one adopts them (docs/forwarding.md).
			KeepKernelNAT: true, AdoptLease: s.adoptLease(), DrainTimeout: s.cfg.DrainTimeout, Keeper: s.agentKeeper()})
		s.Agents[z] = a
		s.goRun(func() { _ = a.Run(ctx) })
	}
	if len(s.cfg.AgentZones) == 0 {
		return nil
	}
	s.DNS, err = dns.New(dns.Config{Zone: naming.Zone(), Upstreams: s.cfg.DNSUpstreams, Registerer: reg, Logger: s.log})
	if err != nil {
		return err
	}
	r := resolver.New(resolver.Config{Cache: s.Cache, Sockets: s.Driver.Sockets, DNS: s.DNS, Logger: s.log, Zones: s.cfg.AgentZones, Keeper: s.agentKeeper()})
	s.resolver = r
	s.goRun(func() { r.Run(ctx) })
	return nil
}

// proxyBudget is the agents' shared descriptor budget, exported as gauges.
func (s *Server) proxyBudget(reg *prometheus.Registry) *proxy.Budget {
	var b *proxy.Budget
	if s.cfg.ProxyFDs > 0 {
		b = proxy.NewBudget(s.cfg.ProxyFDs)
	} else {
		var err error
		if b, err = proxy.BudgetFromRlimit(proxy.DefaultReserveFDs); err != nil {
			s.log.Warn("data-plane descriptor budget", "err", err)
		}
	}
	if s.cfg.EndpointFDShare > 0 {
		b.SetEndpointShare(s.cfg.EndpointFDShare)
	}
	s.log.Info("data-plane descriptor budget", "fds", b.FDs(), "endpoint_max_conns", b.EndpointCap())
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "privlink_proxy_fd_budget",
			Help: "File descriptors the data plane may hold (connections 2 each, splice pipes 2 each)."},
			func() float64 { return float64(b.FDs()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "privlink_proxy_fd_in_use",
			Help: "File descriptors the data plane holds now, out of privlink_proxy_fd_budget."},
			func() float64 { return float64(b.InUse()) }))
	return b
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

// nodeConfig is the node agent's configuration (nil: zone agents, a
// region without nodes). A server's node is the default node: hosts from
// before nodes existed live on it.
func (s *Server) nodeConfig(ctx context.Context) (*agent.NodeConfig, error) {
	if s.cfg.Node == "" {
		return nil, nil
	}
	addr, err := s.cfg.underlay()
	if err != nil {
		return nil, err
	}
	if !s.cfg.AgentOnly {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		def, err := s.Store.EnsureDefaultNode(dctx, s.cfg.Node)
		cancel()
		if err != nil {
			return nil, err
		}
		s.log.Info("node", "name", s.cfg.Node, "zone", s.cfg.AgentZones[0], "underlay", addr, "defaultNode", def)
	}
	return &agent.NodeConfig{Name: s.cfg.Node, UnderlayAddr: addr, UnderlayMTU: s.cfg.UnderlayMTU}, nil
}
