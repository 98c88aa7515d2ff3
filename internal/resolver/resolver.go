// Package resolver owns the per-VPC private DNS service: it turns the
// control-plane state into DNS views (endpoint domain, zonal domains,
// service name and service domain per consumer VPC, only for zones that a
// live agent, or in a region of nodes the zone's ready placement node,
// serves and that have a healthy backend) and serves each VPC's
// view at the VPC resolver address inside that VPC's namespace. It never
// creates a namespace: it waits for the zone agent that does.
//
// The views are derived incrementally (Views, views.go): after a change
// only the endpoints whose records changed are derived again, and only
// the names whose addresses changed are patched into the DNS server.
// Build is the one-pass derivation the incremental one must equal
// (TestViewsMatchBuild).
package resolver

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/privlink/privlink/internal/dns"
	"github.com/privlink/privlink/internal/handoff"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
)

// Config configures the resolver.
type Config struct {
	Cache   *store.Cache
	Sockets netdrv.Sockets
	DNS     *dns.Server
	Logger  *slog.Logger
	// Zones limits which VPCs this process serves: those with a vSwitch in
	// one of them. The agents of these zones create (or adopt) the VPCs'
	// namespaces, in this process or, for a named namespace, in another
	// process on this machine with the same driver prefix.
	Zones []string
	// Keeper, if set, is told of each resolver socket opened or closed
	// (a socket keeper holds them across a crash of this process, so DNS
	// queries wait instead of going unanswered; package keeper).
	Keeper handoff.Keeper
}

// Resolver keeps DNS snapshots current and sockets open per VPC.
type Resolver struct {
	cfg     Config
	serving map[string]bool
	kept    map[string]netip.AddrPort // VPC → resolver address, as reported to Config.Keeper
	settled atomic.Bool               // the last serve left no VPC waiting
	done    chan struct{}
}

// New returns a resolver; Run starts it.
func New(cfg Config) *Resolver {
	return &Resolver{cfg: cfg, serving: map[string]bool{}, kept: map[string]netip.AddrPort{}, done: make(chan struct{})}
}

// Done is closed after Run returned and every socket is closed.
func (r *Resolver) Done() <-chan struct{} { return r.done }

// Run keeps the DNS views current until ctx ends: after every change it
// patches the names whose addresses changed (Views).
func (r *Resolver) Run(ctx context.Context) {
	defer close(r.done)
	defer func() {
		for vpc := range r.serving {
			_ = r.cfg.DNS.Stop(vpc)
			r.drop(vpc)
		}
	}()
	// The tick retries VPCs whose namespace does not exist yet; the
	// views are updated only when the state changed.
	var (
		last  *store.State
		views *Views
	)
	r.cfg.Cache.Loop(ctx, "resolver", time.Second, func(st *store.State) {
		if st != last {
			v := views
			views = nil // until this update finished: a panic starts afresh
			views = r.publish(v, st)
			last = st
		}
		r.serve(st)
	})
}

// publish brings the DNS server to st: a first derivation (views nil)
// installs every view; later ones patch the names that changed. It
// returns the views to use next time.
func (r *Resolver) publish(views *Views, st *store.State) *Views {
	if views == nil {
		views = NewViews(r.cfg.Sockets.MapAddr).WithChanges(r.cfg.Cache.ChangesSince)
		views.Update(st)
		r.cfg.DNS.SetSnapshot(views.Snapshot(st.Rev))
		return views
	}
	for vpc, names := range views.Update(st) {
		r.cfg.DNS.PatchView(st.Rev, vpc, names)
	}
	r.cfg.DNS.SetRevision(st.Rev)
	return views
}

// Settled reports whether the resolver serves every VPC it should (as of
// its last pass): a successor taking over waits for it (package handoff),
// so DNS never goes quiet in a VPC when its predecessor stops.
func (r *Resolver) Settled() bool { return r.settled.Load() }

// serve opens the resolver sockets in every VPC with a vSwitch in our zones
// whose namespace the agent has created; the others wait for the next call.
func (r *Resolver) serve(st *store.State) {
	want := map[string]bool{}
	for _, vsw := range st.VSwitches {
		for _, z := range r.cfg.Zones {
			if vsw.ZoneID == z {
				want[vsw.VpcID] = true
			}
		}
	}
	defer func() {
		settled := true
		for vpc := range want {
			settled = settled && (r.serving[vpc] || st.VPCs[vpc] == nil)
		}
		r.settled.Store(settled)
	}()
	for vpc := range want {
		if r.serving[vpc] || st.VPCs[vpc] == nil {
			continue
		}
		if !r.cfg.Sockets.HasVPC(vpc) {
			r.cfg.Logger.Debug("dns: waiting for the agent to create the VPC namespace", "vpcId", vpc)
			continue
		}
		addr := r.cfg.Sockets.ResolverAddr(vpc)
		pc, err := r.cfg.Sockets.ListenPacketShared(vpc, addr)
		if err != nil {
			r.cfg.Logger.Warn("dns: listen udp", "vpcId", vpc, "addr", addr, "err", err)
			continue
		}
		ln, err := r.cfg.Sockets.ListenShared(vpc, addr)
		if err != nil {
			pc.Close()
			r.cfg.Logger.Warn("dns: listen tcp", "vpcId", vpc, "addr", addr, "err", err)
			continue
		}
		if err := r.cfg.DNS.Serve(vpc, pc, ln); err != nil {
			r.cfg.Logger.Warn("dns: serve", "vpcId", vpc, "err", err)
			continue
		}
		r.keep(vpc, addr, pc, ln)
		r.serving[vpc] = true
		r.cfg.Logger.Info("dns serving", "vpcId", vpc, "addr", addr)
	}
	for vpc := range r.serving {
		if !want[vpc] {
			_ = r.cfg.DNS.Stop(vpc)
			delete(r.serving, vpc)
			r.drop(vpc)
		}
	}
}

// keep reports a VPC's resolver sockets to the keeper, if any.
func (r *Resolver) keep(vpc string, addr netip.AddrPort, pc net.PacketConn, ln net.Listener) {
	if r.cfg.Keeper == nil {
		return
	}
	var socks []handoff.Socket
	for _, s := range []struct {
		proto string
		c     any
	}{{"udp-shared", pc}, {"tcp-shared", ln}} {
		if fd := handoff.FD(s.c); fd >= 0 {
			socks = append(socks, handoff.Socket{Key: handoff.Key(s.proto, vpc, addr), FD: fd})
		}
	}
	r.cfg.Keeper.Keep(socks)
	r.kept[vpc] = addr
}

// drop reports a VPC's resolver sockets closed to the keeper, if any.
func (r *Resolver) drop(vpc string) {
	if addr, ok := r.kept[vpc]; ok {
		r.cfg.Keeper.Drop([]string{handoff.Key("udp-shared", vpc, addr), handoff.Key("tcp-shared", vpc, addr)})
		delete(r.kept, vpc)
	}
}

// Build derives the DNS views from a state snapshot in one pass: the
// reference that Views, which the resolver runs, must always equal. A zone's address is
// published only while its agent is alive, reports it ready with a healthy
// backend (all ready zones when none is healthy), and the connection is
// accepted. mapAddr turns a VPC address into the address clients reach it
// at (identity for netns; 127.x.y.z for the loopback driver, so that no
// client is ever sent to a VPC address that is not on this machine).
func Build(st *store.State, mapAddr func(vpcID string, ip netip.Addr) netip.Addr) *dns.Snapshot {
	snap := &dns.Snapshot{Revision: st.Rev, Views: map[string]map[string][]netip.Addr{}}
	for _, ep := range st.Endpoints {
		if !model.Carries(ep, st.Services[ep.ServiceID]) {
			continue
		}
		view := snap.Views[ep.VpcID]
		if view == nil {
			view = map[string][]netip.Addr{}
			snap.Views[ep.VpcID] = view
		}
		// The endpoint's and its zones' names are its own; the service's
		// name and domain collect the addresses of all its endpoints here.
		for _, n := range derive(st, ep, mapAddr).names {
			view[n.name] = append(view[n.name], n.addrs...)
		}
	}
	return snap
}

func fqdn(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) + "." }
