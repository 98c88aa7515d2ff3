package agent

import (
	"net/netip"

	"github.com/privlink/privlink/internal/store"
)

// applyNAT's rounds after a full one. A full round (the first, and every
// round whose desired state the incremental compute rebuilt) hands the
// hub the agent's whole share of kernel flows (natHub.set) and records
// here which listeners are flows, which stay on the proxy, and which
// backends' health each flow depends on. A later round redoes only the
// listeners of the endpoints the compute redid (desired.changed), of the
// endpoints whose flows failed last round, and of the flows whose
// backends' health changed since, and hands the hub only those
// (natHub.patch): with thousands of nat endpoints, turning every
// listener into a flow and comparing the whole share at every round was
// the agent's largest cost per change after the compute itself.
type natDelta struct {
	rest    map[listenerKey]listenerSpec // listeners left to the proxy (returned to apply, which only reads it)
	ids     map[listenerKey]string       // nat listeners: their flow ID
	keysOf  map[string][]listenerKey     // each endpoint's listeners at its last redo
	retry   map[string]bool              // endpoints whose flows failed: redone next round
	watch   map[natHealthKey]*natWatch   // backends the flows depend on
	watchOf map[listenerKey][]natHealthKey
}

// natHealthKey is one backend as checked from one provider VPC.
type natHealthKey struct {
	vpc  string
	addr netip.AddrPort
}

// natWatch is a backend's health as its flows were last made, and those
// flows' listeners.
type natWatch struct {
	healthy   bool
	listeners map[listenerKey]bool
}

// newNATDelta records a full round: rest and flows as handed to the hub,
// errs its errors by endpoint.
func newNATDelta(a *Agent, d *desired, rest map[listenerKey]listenerSpec, flows map[string]natFlow, errs map[string]error) *natDelta {
	nd := &natDelta{rest: rest, ids: map[listenerKey]string{}, keysOf: map[string][]listenerKey{}, retry: map[string]bool{},
		watch: map[natHealthKey]*natWatch{}, watchOf: map[listenerKey][]natHealthKey{}}
	for k, sp := range d.listeners {
		nd.keysOf[k.EndpointID] = append(nd.keysOf[k.EndpointID], k)
		if _, proxied := rest[k]; proxied {
			continue
		}
		nd.ids[k] = flowID(k, a.cfg.Zone)
		nd.watchListener(a, k, sp)
	}
	for ep := range errs {
		nd.retry[ep] = true
	}
	return nd
}

// applyNATDelta is applyNAT for a round after a full one (see natDelta).
func (a *Agent) applyNATDelta(d *desired, st *store.State, namer nsNamer, errs map[string]error) map[listenerKey]listenerSpec {
	nd := a.natDelta
	dirty := map[listenerKey]bool{}
	redo := map[string]bool{}
	for ep := range d.changed {
		redo[ep] = true
	}
	for ep := range nd.retry {
		redo[ep] = true
	}
	for ep := range redo {
		for _, k := range nd.keysOf[ep] {
			dirty[k] = true
		}
		keys := listenerKeysOf(d, ep)
		for _, k := range keys {
			dirty[k] = true
		}
		if len(keys) == 0 {
			delete(nd.keysOf, ep)
		} else {
			nd.keysOf[ep] = keys
		}
	}
	for hk, w := range nd.watch {
		if now := a.healthFor(hk.vpc).Healthy(hk.addr); now != w.healthy {
			w.healthy = now
			for k := range w.listeners {
				dirty[k] = true
			}
		}
	}
	var set []natFlow
	var remove []string
	for k := range dirty {
		nd.unwatch(k)
		oldID, wasNAT := nd.ids[k]
		sp, ok := d.listeners[k]
		var f natFlow
		if ok {
			f, ok = a.natFlowOf(k, sp, st, namer)
			if !ok {
				nd.rest[k] = sp
			}
		} else {
			delete(nd.rest, k)
			delete(a.natFlows, k)
		}
		if wasNAT && (!ok || oldID != f.flow.ID) {
			remove = append(remove, oldID)
			delete(nd.ids, k)
		}
		if !ok {
			continue
		}
		delete(nd.rest, k)
		nd.ids[k] = f.flow.ID
		set = append(set, f)
		nd.watchListener(a, k, sp)
	}
	nd.retry = map[string]bool{}
	for ep, err := range defaultHub.patch(a, set, remove, a.log) {
		errs[ep] = err
		nd.retry[ep] = true
	}
	a.natStats()
	return nd.rest
}

// listenerKeysOf lists endpoint ep's listeners in d (TCP, both families).
func listenerKeysOf(d *desired, ep string) []listenerKey {
	var out []listenerKey
	seen := map[listenerKey]bool{}
	for _, port := range d.ports[ep] {
		for _, v6 := range []bool{false, true} {
			k := listenerKey{EndpointID: ep, Port: port, V6: v6}
			if _, ok := d.listeners[k]; ok && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// watchListener records the backends nat listener k's flow depends on,
// with their health now (what natFlowMemo just used).
func (nd *natDelta) watchListener(a *Agent, k listenerKey, sp listenerSpec) {
	h := a.healthFor(sp.svcVPC)
	for _, b := range sp.cfg.Backends {
		hk := natHealthKey{vpc: sp.svcVPC, addr: b.Addr}
		w := nd.watch[hk]
		if w == nil {
			w = &natWatch{healthy: h.Healthy(b.Addr), listeners: map[listenerKey]bool{}}
			nd.watch[hk] = w
		}
		w.listeners[k] = true
		nd.watchOf[k] = append(nd.watchOf[k], hk)
	}
}

// unwatch forgets listener k's backends (a watch without listeners goes).
func (nd *natDelta) unwatch(k listenerKey) {
	for _, hk := range nd.watchOf[k] {
		if w := nd.watch[hk]; w != nil {
			delete(w.listeners, k)
			if len(w.listeners) == 0 {
				delete(nd.watch, hk)
			}
		}
	}
	delete(nd.watchOf, k)
}
