package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privlink/privlink/internal/handoff"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/store"
)

type netConn = net.Conn

// apply diffs desired against actual and changes only what differs.
// It returns errors per endpoint so reports can say what failed.
func (a *Agent) apply(d *desired) map[string]error {
	errs := map[string]error{}
	if a.cfg.Driver.Name != netdrv.Netns {
		d.dropIPv6() // dualstack.go
	}
	drv := a.cfg.Driver.Topology
	// Creation order: VPCs, vSwitches, hosts, ENIs, listeners.
	a.ensureVPCs(d)
	ensure(a.log, "vswitch", a.vswitches, d.vswitches, func(id string, v vswitch) error {
		return drv.EnsureVSwitch(v.VpcID, id, v.CIDR, v.Gateway)
	})
	ensure(a.log, "host", a.hosts, d.hosts, func(_ string, h netdrv.Host) error { return drv.EnsureHost(h) })
	// ENIs the start-up inventory found in place (prune) are not added
	// again: with thousands of endpoints, asking the driver for each (a
	// dump of its bridge's addresses each) was a large part of a restart.
	for k := range a.found {
		if d.enis[k] {
			a.enis[k] = true
		}
	}
	a.found = nil
	ensure(a.log, "eni", a.enis, d.enis, func(k eniKey, _ bool) error { return drv.AddENI(k.VpcID, k.VSwitchID, k.IP) })
	for epID, k := range d.zones {
		if !a.enis[k] {
			errs[epID] = fmt.Errorf("ENI %s not placed on %s", k.IP, k.VSwitchID)
		}
	}
	a.ipv6Placed(d, errs)
	a.recordENIs(d)
	// Endpoints of nat services are forwarded by the kernel (nat.go); the
	// proxy serves the rest.
	proxied := a.applyNAT(d, errs)
	// Listeners: stop removed or changed ones first, then start new ones.
	for k, r := range a.listeners {
		if sp, ok := proxied[k]; !ok || sp.addr != r.spec.addr {
			a.stopListener(k, r)
		} else if sp.version != r.spec.version {
			r.l.Update(a.proxyConfig(sp))
			r.spec = sp
		}
	}
	var start []listenerKey
	for k := range proxied {
		if _, ok := a.listeners[k]; !ok {
			start = append(start, k)
		}
	}
	a.startListeners(start, proxied, errs)
	a.applyUDP(d.udp, errs)
	a.trackBackends(d)
	for epID := range a.served {
		if _, ok := d.zones[epID]; !ok {
			a.cfg.Metrics.Forget(epID, a.cfg.Zone)
		}
	}
	a.served = maps.Clone(d.zones) // d's maps are the incremental compute's, changed by the next round
	// Removal order: ENIs, hosts, vSwitches, VPCs.
	drop(a.log, "eni", a.enis, d.enis, func(k eniKey, _ bool) error { return drv.RemoveENI(k.VpcID, k.VSwitchID, k.IP) })
	drop(a.log, "host", a.hosts, d.hosts, func(id string, _ netdrv.Host) error { return drv.DeleteHost(id) })
	drop(a.log, "vswitch", a.vswitches, d.vswitches, func(id string, v vswitch) error { return drv.DeleteVSwitch(v.VpcID, id) })
	st := a.cfg.Cache.State()
	drop(a.log, "vpc", a.vpcs, d.vpcs, func(id, _ string) error {
		// Only a VPC that no longer exists is torn down; one that merely
		// left this zone may still serve other zones: it is kept, and
		// torn down once it is deleted.
		if _, exists := st.VPCs[id]; exists {
			a.kept[id] = st.Rev
			return nil
		}
		return drv.DeleteVPC(id)
	})
	for id, seen := range a.kept {
		switch _, exists := st.VPCs[id]; {
		case hasKey(d.vpcs, id):
			delete(a.kept, id) // wanted here again: tracked in a.vpcs
		case !exists && st.Rev > seen && !st.Bad(store.KindVPC, id):
			// Gone from a state newer than the one that showed it (prune
			// reads the store afresh, ahead of the cache): deleted. A bad
			// record may describe it: left alone.
			if err := drv.DeleteVPC(id); err != nil {
				a.log.Warn("remove vpc", "id", id, "err", err)
				continue
			}
			delete(a.kept, id)
		}
	}
	return errs
}

// ensureVPCs makes the VPC namespaces of d (a node agent calls it before
// apply, to give them their overlay before any ENI answers).
func (a *Agent) ensureVPCs(d *desired) {
	drv := a.cfg.Driver.Topology
	ensure(a.log, "vpc", a.vpcs, d.vpcs, func(id, path string) error {
		if path != "" {
			return drv.AdoptVPC(id, path)
		}
		return drv.EnsureVPC(id)
	})
}

func hasKey[K comparable, V any](m map[K]V, k K) bool { _, ok := m[k]; return ok }

// ensure creates every object of want that have lacks (or has in another
// form) and records each success in have; failures are retried on the
// next apply.
func ensure[K, V comparable](log *slog.Logger, kind string, have, want map[K]V, create func(K, V) error) {
	for k, v := range want {
		if cur, ok := have[k]; ok && cur == v {
			continue
		}
		if err := create(k, v); err != nil {
			log.Error("ensure "+kind, "id", k, "err", err)
			continue
		}
		have[k] = v
	}
}

// drop removes every object of have that want lacks and forgets it.
func drop[K, V comparable](log *slog.Logger, kind string, have, want map[K]V, remove func(K, V) error) {
	for k, v := range have {
		if _, ok := want[k]; ok {
			continue
		}
		if err := remove(k, v); err != nil {
			log.Warn("remove "+kind, "id", k, "err", err)
		}
		delete(have, k)
	}
}

func (a *Agent) proxyConfig(sp listenerSpec) proxy.Config {
	cfg := sp.cfg
	cfg.Logger = a.log
	if cfg.MaxConns == 0 {
		cfg.MaxConns = a.cfg.MaxConnsPerEndpoint
	}
	if cfg.NewConnsPerSec == 0 {
		cfg.NewConnsPerSec = a.cfg.NewConnsPerSecond
	}
	rules := sp.rules
	// Sockets see translated source addresses under loopback: security
	// groups apply to VPC addresses.
	um, vpc := a.cfg.Driver.Sockets, sp.eni.VpcID
	cfg.Allow = func(src netip.AddrPort, port uint16) bool { return rules.Allows(um.UnmapAddr(vpc, src.Addr()), port) }
	return cfg
}

// startWorkers bounds how many batches startListeners opens at once.
const startWorkers = 4

// listenBatch is the most listeners one batch opens (a variable for tests).
var listenBatch = 256

// startListeners opens the listeners of keys. They are grouped by
// consumer VPC and cut into batches of at most listenBatch; each batch's
// sockets are opened by one locked thread that enters the VPC's namespace
// once (netdrv ListenMany), then the batch is handed to the proxy engine (proxy.StartMany).
// startWorkers batches run at once, so the VPCs (and the batches of one
// large VPC) proceed in parallel, bounded. After a restart with thousands
// of proxy endpoints this is a large part of the first round (docs/benchmarks.md,
// "Proxy restart (session 7)"). Failures are per listener: logged and
// recorded in errs by endpoint.
func (a *Agent) startListeners(keys []listenerKey, specs map[listenerKey]listenerSpec, errs map[string]error) {
	type result struct {
		r   *running
		err error
	}
	t0 := time.Now()
	results := make([]result, len(keys))
	batches := batchByVPC(keys, specs, listenBatch)
	open := func(b []int) {
		addrs := make([]netip.AddrPort, len(b))
		for j, i := range b {
			addrs[j] = specs[keys[i]].addr
		}
		vpc := specs[keys[b[0]]].eni.VpcID
		lns, lerrs := a.cfg.Driver.Sockets.ListenMany(vpc, addrs)
		var ls []*proxy.Listener
		var at []int // ls[j] is keys[at[j]]'s
		for j, i := range b {
			if lerrs[j] != nil {
				results[i].err = fmt.Errorf("listen on %s in %s: %w", addrs[j], vpc, lerrs[j])
				continue
			}
			ls = append(ls, a.newProxyListener(specs[keys[i]], lns[j]))
			at = append(at, i)
		}
		started, serrs := proxy.StartMany(ls)
		for j, l := range ls {
			i := at[j]
			results[i].r, results[i].err = a.serve(specs[keys[i]], l, started[j], serrs[j])
		}
	}
	if len(batches) == 1 {
		open(batches[0]) // the common case of a change: no goroutine
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(startWorkers, len(batches)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < len(batches); i = int(next.Add(1) - 1) {
					open(batches[i])
				}
			}()
		}
		wg.Wait()
	}
	up := 0
	var kept []handoff.Socket
	for i, res := range results {
		k := keys[i]
		if res.err != nil {
			a.log.Error("start listener", "endpointId", k.EndpointID, "addr", specs[k].addr, "err", res.err)
			errs[k.EndpointID] = res.err
			continue
		}
		a.listeners[k] = res.r
		up++
		if a.cfg.Keeper != nil {
			kept = append(kept, handoff.Socket{Key: socketKey("tcp", res.r.spec), FD: res.r.l.FD()})
		}
	}
	a.keep(kept)
	switch {
	case up == 1:
		a.log.Info("listener up", "endpointId", keys[0].EndpointID, "addr", specs[keys[0]].addr, "vpcId", specs[keys[0]].eni.VpcID)
	case up > 1:
		a.log.Info("listeners up", "count", up, "batches", len(batches), "seconds", time.Since(t0).Seconds())
	}
}

// batchByVPC groups the indexes of keys by their listener's consumer VPC
// and cuts each group into batches of at most size.
func batchByVPC(keys []listenerKey, specs map[listenerKey]listenerSpec, size int) [][]int {
	per := map[string][]int{}
	var order []string
	for i, k := range keys {
		v := specs[k].eni.VpcID
		if _, ok := per[v]; !ok {
			order = append(order, v)
		}
		per[v] = append(per[v], i)
	}
	var out [][]int
	for _, v := range order {
		for g := per[v]; len(g) > 0; {
			n := min(size, len(g))
			out = append(out, g[:n:n])
			g = g[n:]
		}
	}
	return out
}

// newProxyListener makes the proxy Listener of sp on ln. Safe to call
// from several goroutines: it touches no agent state but the health
// checkers'.
func (a *Agent) newProxyListener(sp listenerSpec, ln net.Listener) *proxy.Listener {
	drv, vpc := a.cfg.Driver.Sockets, sp.svcVPC
	dial := func(ctx context.Context, addr netip.AddrPort) (net.Conn, error) { return drv.Dial(ctx, vpc, addr) }
	sockets := func(addr netip.AddrPort) (int, netip.AddrPort, error) { return drv.Socket(vpc, addr) }
	return proxy.NewListener(ln, a.proxyConfig(sp), dial, a.healthFor(vpc), a.cfg.Metrics, proxy.WithSockets(sockets), proxy.WithBudget(a.cfg.Budget))
}

// serve finishes starting l after proxy.StartMany (started, err): on the
// proxy's event-loop engine it serves with no goroutine of its own;
// otherwise a goroutine runs Serve. A Listener the engine refused is
// closed and its error returned.
func (a *Agent) serve(sp listenerSpec, l *proxy.Listener, started bool, err error) (*running, error) {
	r := &running{spec: sp, l: l, done: make(chan struct{})}
	if started || err != nil {
		close(r.done)
		if err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("serve %s: %w", sp.addr, err)
		}
		return r, nil
	}
	go func() {
		defer close(r.done)
		if err := l.Serve(); err != nil {
			a.log.Warn("listener stopped", "addr", sp.addr, "err", err)
		}
	}()
	return r, nil
}

func (a *Agent) stopListener(k listenerKey, r *running) {
	a.closeListener(k, r)
	a.log.Info("listener down", "endpointId", k.EndpointID, "addr", r.spec.addr)
}

func (a *Agent) closeListener(k listenerKey, r *running) {
	if err := r.l.Close(); err != nil {
		a.log.Warn("close listener", "addr", r.spec.addr, "err", err)
	}
	<-r.done
	delete(a.listeners, k)
	a.drop("tcp", r.spec)
}

// trackBackends points each provider VPC's health checker at its backends.
func (a *Agent) trackBackends(d *desired) {
	per := map[string][]netip.AddrPort{}
	for _, sp := range d.listeners {
		for _, b := range sp.cfg.Backends {
			per[sp.svcVPC] = append(per[sp.svcVPC], b.Addr)
		}
	}
	a.healthMu.Lock()
	vpcs := make([]string, 0, len(a.health))
	for v := range a.health {
		vpcs = append(vpcs, v)
	}
	a.healthMu.Unlock()
	for _, v := range vpcs {
		if _, ok := per[v]; !ok {
			a.healthMu.Lock()
			a.health[v].Close()
			delete(a.health, v)
			a.healthMu.Unlock()
		}
	}
	for v, addrs := range per {
		a.healthFor(v).Track(addrs)
	}
}
