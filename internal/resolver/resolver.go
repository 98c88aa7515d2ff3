// Package resolver owns the per-VPC private DNS service: it turns the
// control-plane state into DNS snapshots (endpoint domain, zonal domains,
// service name and service domain per consumer VPC, only for zones that a
// live agent serves and that have a healthy backend) and serves each VPC's
// view at the VPC resolver address inside that VPC's namespace.
package resolver

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
)

// Config configures the resolver.
type Config struct {
	Cache  *store.Cache
	Driver netdrv.Driver
	DNS    *dns.Server
	Logger *slog.Logger
	// Zones limits which VPCs this process serves: those with a vSwitch in one of them.
	Zones []string
}

// Resolver keeps DNS snapshots current and sockets open per VPC.
type Resolver struct {
	cfg     Config
	serving map[string]bool
	done    chan struct{}
}

// New returns a resolver; Run starts it.
func New(cfg Config) *Resolver {
	return &Resolver{cfg: cfg, serving: map[string]bool{}, done: make(chan struct{})}
}

// Done is closed after Run returned and every socket is closed.
func (r *Resolver) Done() <-chan struct{} { return r.done }

// Run rebuilds the snapshot after every change until ctx ends.
func (r *Resolver) Run(ctx context.Context) {
	defer close(r.done)
	defer func() {
		for vpc := range r.serving {
			_ = r.cfg.DNS.Stop(vpc)
		}
	}()
	// The tick retries sockets whose namespace did not exist yet; the
	// snapshot is rebuilt only when the state changed.
	var last *store.State
	r.cfg.Cache.Loop(ctx, "resolver", time.Second, func(st *store.State) {
		if st != last {
			r.cfg.DNS.SetSnapshot(Build(st, r.cfg.Driver.MapAddr))
			last = st
		}
		r.serve(st)
	})
}

// serve opens the resolver sockets in every VPC with a vSwitch in our zones.
func (r *Resolver) serve(st *store.State) {
	want := map[string]bool{}
	for _, vsw := range st.VSwitches {
		for _, z := range r.cfg.Zones {
			if vsw.ZoneID == z {
				want[vsw.VpcID] = true
			}
		}
	}
	for vpc := range want {
		if r.serving[vpc] {
			continue
		}
		if v := st.VPCs[vpc]; v == nil {
			continue
		} else if v.NetnsPath != "" {
			if err := r.cfg.Driver.AdoptVPC(vpc, v.NetnsPath); err != nil {
				r.cfg.Logger.Warn("dns: adopt vpc", "vpcId", vpc, "err", err)
				continue
			}
		} else if err := r.cfg.Driver.EnsureVPC(vpc); err != nil {
			r.cfg.Logger.Warn("dns: ensure vpc", "vpcId", vpc, "err", err)
			continue
		}
		addr := r.cfg.Driver.ResolverAddr(vpc)
		listen, listenPacket := r.cfg.Driver.Listen, r.cfg.Driver.ListenPacket
		if sh, ok := r.cfg.Driver.(sharedListener); ok {
			listen, listenPacket = sh.ListenShared, sh.ListenPacketShared
		}
		pc, err := listenPacket(vpc, addr)
		if err != nil {
			r.cfg.Logger.Warn("dns: listen udp", "vpcId", vpc, "addr", addr, "err", err)
			continue
		}
		ln, err := listen(vpc, addr)
		if err != nil {
			pc.Close()
			r.cfg.Logger.Warn("dns: listen tcp", "vpcId", vpc, "addr", addr, "err", err)
			continue
		}
		if err := r.cfg.DNS.Serve(vpc, pc, ln); err != nil {
			r.cfg.Logger.Warn("dns: serve", "vpcId", vpc, "err", err)
			continue
		}
		r.serving[vpc] = true
		r.cfg.Logger.Info("dns serving", "vpcId", vpc, "addr", addr)
	}
	for vpc := range r.serving {
		if !want[vpc] {
			_ = r.cfg.DNS.Stop(vpc)
			delete(r.serving, vpc)
		}
	}
}

// sharedListener is implemented by drivers whose resolver sockets several
// processes on one machine may bind (netns: SO_REUSEPORT), so the server and
// standalone agents can all serve a VPC's resolver.
type sharedListener interface {
	ListenShared(vpcID string, addr netip.AddrPort) (net.Listener, error)
	ListenPacketShared(vpcID string, addr netip.AddrPort) (net.PacketConn, error)
}

// Build derives the DNS views from a state snapshot. A zone's address is
// published only while its agent is alive, reports it ready with a healthy
// backend (all ready zones when none is healthy), and the connection is
// accepted. mapAddr turns a VPC address into the address clients reach it
// at (identity for netns; 127.x.y.z for the loopback driver, so that no
// client is ever sent to a VPC address that is not on this machine).
func Build(st *store.State, mapAddr func(vpcID string, ip netip.Addr) netip.Addr) *dns.Snapshot {
	snap := &dns.Snapshot{Revision: st.Rev, Views: map[string]map[string][]netip.Addr{}}
	for _, ep := range st.Endpoints {
		svc := st.Services[ep.ServiceID]
		if svc == nil || ep.ConnectionStatus != model.ConnConnected {
			continue
		}
		view := snap.Views[ep.VpcID]
		if view == nil {
			view = map[string][]netip.Addr{}
			snap.Views[ep.VpcID] = view
		}
		// Ready zones are published; among them only healthy ones unless
		// none is healthy (fail open, so DNS never empties on a bad check).
		var ready, healthy []netip.Addr
		for _, z := range ep.Zones {
			if st.ZoneStatus(ep, z.ZoneID) != model.ZoneConnected {
				continue
			}
			ip := mapAddr(ep.VpcID, z.IP)
			ready = append(ready, ip)
			if st.Report(z.ZoneID, ep.EndpointID).Healthy {
				healthy = append(healthy, ip)
			}
			view[fqdn(z.ZoneDomain)] = []netip.Addr{ip}
		}
		all := healthy
		if len(all) == 0 {
			all = ready
		}
		if len(all) == 0 {
			continue
		}
		view[fqdn(ep.EndpointDomain)] = all
		for _, name := range []string{svc.Name, svc.ServiceDomain} {
			view[fqdn(name)] = append(view[fqdn(name)], all...)
		}
	}
	return snap
}

func fqdn(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) + "." }
