package server

import (
	"context"

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
	for _, z := range s.cfg.AgentZones {
		a := agent.New(agent.Config{Zone: z, Store: s.Store, Cache: s.Cache, Driver: s.Driver, Metrics: metrics, Logger: s.log})
		s.Agents[z] = a
		s.goRun(func() { _ = a.Run(ctx) })
	}
	if len(s.cfg.AgentZones) == 0 {
		return nil
	}
	var err error
	s.DNS, err = dns.New(dns.Config{Zone: naming.Zone(), Upstreams: s.cfg.DNSUpstreams, Registerer: reg, Logger: s.log})
	if err != nil {
		return err
	}
	r := resolver.New(resolver.Config{Cache: s.Cache, Sockets: s.Driver.Sockets, DNS: s.DNS, Logger: s.log, Zones: s.cfg.AgentZones})
	s.goRun(func() { r.Run(ctx) })
	return nil
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
