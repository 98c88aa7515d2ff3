// Package server assembles one privlink process, `privlink server` or a
// standalone `privlink agent`, from a Config: the store (embedded or
// external etcd), the list+watch cache, the zone agents with their network
// driver, the per-VPC DNS resolver and the management listener (/metrics);
// a server adds the REST API and the web console on the tenants' port
// (over TLS when configured) and the controllers. The lifecycle is
// explicit: Start (ready when it returns), then Stop.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/privlink/privlink/internal/agent"
	"github.com/privlink/privlink/internal/apiserver"
	"github.com/privlink/privlink/internal/controller"
	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/events"
	"github.com/privlink/privlink/internal/handoff"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/notify"
	"github.com/privlink/privlink/internal/resolver"
	"github.com/privlink/privlink/internal/store"
)

// readyTimeout bounds how long Start waits for the cache and the agents.
const readyTimeout = 30 * time.Second

// Server is a running privlink process.
type Server struct {
	cfg      Config
	Store    *store.Store
	Cache    *store.Cache
	API      *apiserver.API // nil for a standalone agent
	Driver   netdrv.Driver
	Agents   map[string]*agent.Agent
	DNS      *dns.Server // nil without agents
	resolver *resolver.Resolver
	webhooks *notify.AllowList

	http     *http.Server // the tenants' port
	ln       net.Listener
	mgmt     *http.Server // the management listener
	mgmtLn   net.Listener
	tls      *TLSInfo
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	log      *slog.Logger
	claim    *netdrv.PrefixClaim // the netns prefix, held for the process's life
	startup  *startupTrace       // Start's phases (until ready)
	agentsAt time.Time           // when the agents were started

	// handoff (handoff.go)
	taken      *handoff.Taken   // from the predecessor, until ready
	handed     *handoff.Sockets // the predecessor's sockets, as the driver's
	keeper     *handoff.Taken   // from the socket keeper (Config.Keeper), then its reports
	adopted    int64            // the lease taken over (0: none)
	afterCrash bool             // the keeper held what a dead predecessor kept
	handoff    *handoff.Server  // for the successor, once ready
}

// Start brings every component up and returns when the process is ready:
// store synced, agents synced and applied, DNS serving, HTTP listening.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	trace, err := beginStartup(log, cfg.StartupCPUProfile)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, Agents: map[string]*agent.Agent{}, startup: trace}
	ok := false
	defer func() {
		trace.done(ok)
		if !ok {
			s.abortTakeOver()
			s.Stop()
		}
	}()
	s.Store, err = store.Open(ctx, store.Config{Endpoints: cfg.EtcdEndpoints, DataDir: cfg.DataDir,
		ClientURL: cfg.EtcdClientURL, PeerURL: cfg.EtcdPeerURL, Member: cfg.EtcdMember, Credentials: cfg.etcdCredentials(), QuotaBytes: cfg.EtcdQuotaBytes, Logger: log})
	if err != nil {
		return nil, err
	}
	trace.phase("store")
	// The state read (the cache's first list) runs from here, alongside
	// the index pass and the rest of the start; the agents and the
	// controllers wait for it.
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.Cache = store.NewCache(s.Store, log)
	s.goRun(func() { s.Cache.Run(runCtx) })
	stateRead := make(chan struct{}) // closed once the state read is logged
	s.goRun(func() {
		begin := time.Now()
		select {
		case <-s.Cache.Synced():
			trace.span("stateRead", begin)
			close(stateRead)
		case <-runCtx.Done():
		}
	})
	if err := s.claimPrefix(ctx); err != nil {
		return nil, err
	}
	if s.Driver, err = netdrv.New(cfg.Network, cfg.NetnsPrefix, log); err != nil {
		return nil, err
	}
	if s.webhooks, err = notify.ParseAllowList(cfg.WebhookAllow); err != nil {
		return nil, err
	}
	trace.phase("driver")
	naming := model.Naming{Region: cfg.Region, ServicePrefix: cfg.ServicePrefix, DNSSuffix: cfg.DNSSuffix}
	if !cfg.AgentOnly {
		if err := s.startAPI(ctx, naming); err != nil {
			return nil, err
		}
		trace.phase("api")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(s.Store.Metrics()...)
	if !cfg.AgentOnly {
		s.goRun(func() { controller.NewStatus(s.Store, s.Cache, log).Run(runCtx) })
		s.goRun(func() { controller.NewPlacement(s.Store, s.Cache, log, electionID()).Run(runCtx) })
		// Events start at the first server's start: fix the cursor before
		// the API answers, so no change made through it goes unrecorded.
		if _, err := s.Store.EventsCursor(ctx); err != nil {
			return nil, err
		}
		s.goRun(func() { events.New(events.Config{Store: s.Store, Logger: log}).Run(runCtx) })
		wh := cfg.Webhook
		wh.Store, wh.Logger, wh.Allow = s.Store, log, s.webhooks
		s.goRun(func() { notify.New(wh).Run(runCtx) })
		trace.phase("controllers")
	}
	if err := s.takeOver(); err != nil {
		return nil, err
	}
	s.agentsAt = time.Now()
	if err := s.startDataPlane(runCtx, reg, naming); err != nil {
		return nil, err
	}
	trace.phase("agentsStarted")
	if err := s.serveHTTP(reg); err != nil {
		return nil, err
	}
	trace.phase("listeners")
	if err := s.waitReady(ctx, stateRead); err != nil {
		return nil, err
	}
	if err := s.serveHandoff(reg); err != nil {
		return nil, err
	}
	ok = true
	what := "privlink server ready"
	if cfg.AgentOnly {
		what = "privlink agent ready"
	}
	log.Info(what, "listen", s.URL(), "metrics", s.MetricsURL(), "region", cfg.Region, "zones", cfg.Zones, "agentZones", cfg.AgentZones, "network", s.Driver.Name)
	return s, nil
}

// claimPrefix holds the netns prefix for this deployment while the process
// lives (netns driver with agents only: nothing else touches namespaces),
// so that another deployment's process with the same prefix on this
// machine refuses to start instead of pruning our namespaces.
func (s *Server) claimPrefix(ctx context.Context) error {
	if s.cfg.Network != netdrv.Netns || len(s.cfg.AgentZones) == 0 {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	id, err := s.Store.DeploymentID(dctx)
	cancel()
	if err != nil {
		return err
	}
	claim, prev, err := netdrv.ClaimPrefix(s.cfg.NetnsPrefix, id)
	if err != nil {
		return err
	}
	s.claim = claim
	if prev != "" {
		s.log.Warn("netns prefix was last held by another deployment, whose processes are gone; its namespaces are pruned",
			"prefix", s.cfg.NetnsPrefix, "previousDeployment", prev, "deployment", id)
	}
	return nil
}

// startAPI bootstraps the admin account (embedded etcd) and builds the API.
func (s *Server) startAPI(ctx context.Context, naming model.Naming) error {
	var tokenFile string
	if s.cfg.DataDir != "" {
		tokenFile = filepath.Join(s.cfg.DataDir, "admin.token")
		created, err := apiserver.Bootstrap(ctx, s.Store, s.cfg.DataDir)
		if err != nil {
			return err
		}
		if created {
			s.log.Info("admin account created", "tokenFile", s.cfg.DataDir+"/admin.token")
		}
	}
	// The pass reads every resource; once one has completed, a marker
	// record says so and later starts skip it (apiserver.EnsureOwnedIndex).
	if n, ran, err := apiserver.EnsureOwnedIndex(ctx, s.Store); err != nil {
		return fmt.Errorf("index resources by account: %w", err)
	} else if ran {
		s.log.Info("indexed resources by account for the quotas", "added", n)
	}
	s.API = apiserver.New(apiserver.Config{Store: s.Store, Naming: naming, Zones: s.cfg.Zones, Logger: s.log,
		Network: s.Driver.Name, NetnsPrefix: s.cfg.NetnsPrefix, AdminTokenFile: tokenFile, Webhooks: s.webhooks})
	return nil
}

// waitReady polls Ready until it holds, ctx ends or readyTimeout passes.
func (s *Server) waitReady(ctx context.Context, stateRead <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	first := map[string]bool{} // agents whose first round is logged
	for !s.Ready() {
		s.logFirstRounds(first)
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready in %s (store sync or agents)", readyTimeout)
		}
		select {
		case <-ctx.Done():
			if !s.Ready() {
				return ctx.Err()
			}
			// /readyz may have said so already and the caller reacted
			// (a stop): the process is ready, let it stop normally.
		case <-time.After(20 * time.Millisecond):
		}
	}
	<-stateRead // Ready holds: the cache is synced, the span is logged or about to be
	s.logFirstRounds(first)
	s.startup.phase("ready")
	return nil
}

// logFirstRounds logs the first round of each agent that is ready now
// and not yet in logged.
func (s *Server) logFirstRounds(logged map[string]bool) {
	for z, a := range s.Agents {
		if !logged[z] && a.Ready() {
			logged[z] = true
			s.startup.span("agentFirstRound."+z, s.agentsAt)
		}
	}
}

func (s *Server) goRun(f func()) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f() }()
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

// URL is the base URL of the API and console ("" when there is none):
// https:// when the API has TLS.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	if s.tls != nil {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// MetricsURL is the base URL of the management listener ("" when there is none).
func (s *Server) MetricsURL() string {
	if s.mgmtLn == nil {
		return ""
	}
	return "http://" + s.mgmtLn.Addr().String()
}

// Config returns the effective configuration.
func (s *Server) Config() Config { return s.cfg }

// Stop shuts everything down and releases the netns prefix; namespaces
// stay (see StopAndCleanup). It is safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(s.stop)
	s.claim.Release()
}

// StopAndCleanup stops, removes every namespace of the prefix and only
// then releases the prefix, so that no other deployment can have claimed
// it (and made namespaces) in between.
func (s *Server) StopAndCleanup() error {
	s.stopOnce.Do(s.stop)
	defer s.claim.Release()
	if s.Driver.Topology == nil {
		return nil
	}
	return s.Driver.Topology.Cleanup()
}

func (s *Server) stop() {
	if s.handoff != nil {
		s.handoff.Close() // a handoff in progress is abandoned: the agent resumes, then stops
	}
	for _, srv := range []*http.Server{s.http, s.mgmt} {
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
		}
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

// electionID names this server in the placement controller's election.
func electionID() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}
