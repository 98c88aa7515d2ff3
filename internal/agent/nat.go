package agent

import (
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"

	"github.com/privlink/privlink/internal/knat"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Kernel NAT forwarding (docs/forwarding.md). The endpoints of services
// whose effective forwarding is nat get no proxy listener: each of their
// listener specs (the same desired state the proxy uses: ENI:port,
// backends, security groups, bandwidth, only while Connected) becomes a
// knat.Flow in the pair of (consumer VPC, provider VPC), held by the
// process's natHub. Endpoint zones without an SNAT address (records from before
// it existed) and drivers without router namespaces (loopback) stay on the
// proxy.

// nsNamer is the netns driver's view of a VPC's router namespace.
type nsNamer interface{ VPCNamespace(vpcID string) string }

// applyNAT programs this zone's kernel NAT flows and returns the
// listeners left for the proxy. On the agent's first round it first sweeps
// the VPC namespaces of pairs that no endpoint of the store needs any more.
func (a *Agent) applyNAT(d *desired, errs map[string]error) map[listenerKey]listenerSpec {
	namer, ok := a.cfg.Driver.Topology.(nsNamer)
	if !ok {
		return d.listeners
	}
	st := a.cfg.Cache.State()
	if !a.ready.Load() {
		a.sweepNAT(d, st, namer)
	}
	if d.changed != nil && a.natDelta != nil {
		return a.applyNATDelta(d, st, namer, errs) // nat_delta.go
	}
	rest := make(map[listenerKey]listenerSpec, len(d.listeners))
	flows := map[string]natFlow{}
	for k, sp := range d.listeners {
		f, ok := a.natFlowOf(k, sp, st, namer)
		if !ok {
			rest[k] = sp
			continue
		}
		flows[f.flow.ID] = f
	}
	for k := range a.natFlows {
		if _, ok := d.listeners[k]; !ok {
			delete(a.natFlows, k)
		}
	}
	setErrs := defaultHub.set(a, flows, a.log)
	for ep, err := range setErrs {
		errs[ep] = err
	}
	a.natDelta = newNATDelta(a, d, rest, flows, setErrs)
	a.natStats()
	return rest
}

// natStats hands the metrics what the agent's flows did since last time.
func (a *Agent) natStats() {
	for ep, delta := range defaultHub.stats(a) {
		a.cfg.Metrics.AddNAT(ep, a.cfg.Zone, delta)
	}
}

// natFlowOf is the kernel flow of listener k (spec sp) in snapshot st;
// false when it stays on the proxy: its service's forwarding is not nat,
// it has no SNAT source or no provider VPC.
func (a *Agent) natFlowOf(k listenerKey, sp listenerSpec, st *store.State, namer nsNamer) (natFlow, bool) {
	ep := st.Endpoints[k.EndpointID]
	var svc *model.EndpointService
	if ep != nil {
		svc = st.Services[ep.ServiceID]
	}
	if ep == nil || svc == nil || !zoneSNAT(ep, sp.eni).IsValid() || sp.svcVPC == "" || model.EffectiveForwarding(svc) != model.ForwardNAT {
		return natFlow{}, false
	}
	cPath, pPath := nsPath(namer.VPCNamespace(sp.eni.VpcID)), nsPath(namer.VPCNamespace(sp.svcVPC))
	return natFlow{pair: pairKey{Consumer: sp.eni.VpcID, Provider: sp.svcVPC, CPath: cPath, PPath: pPath},
		cPath: cPath, pPath: pPath, endpoint: k.EndpointID, zone: a.cfg.Zone, flow: a.natFlowMemo(k, sp, ep, st)}, true
}

// zoneSNAT is the SNAT source of ep's zone whose ENI is eni.
func zoneSNAT(ep *model.Endpoint, eni eniKey) netip.Addr {
	for _, z := range ep.Zones {
		if z.VSwitchID == eni.VSwitchID && z.IP == eni.IP {
			return z.SnatIP
		}
	}
	return netip.Addr{}
}

// stopNAT withdraws this agent's flows (at shutdown): their connections
// are cut like the proxy's, and pairs left without flows are closed. With
// Config.KeepKernelNAT they stay in the kernel and keep forwarding, for
// the next process to adopt.
func (a *Agent) stopNAT() {
	if a.cfg.KeepKernelNAT {
		defaultHub.release(a, a.log)
		return
	}
	defaultHub.set(a, nil, a.log)
}

// ownsPair reports whether k links namespaces of this agent's driver (the
// node agents of a lab share a process, each with its own VPC copies).
func (a *Agent) ownsPair(k pairKey) bool {
	namer, ok := a.cfg.Driver.Topology.(nsNamer)
	return ok && nsPath(namer.VPCNamespace(k.Consumer)) == k.CPath
}

// zoneFlow reports whether a flow ID is one of this agent's zone
// (flowID): an orphan flow (adopted from a previous process) of its zone
// that it does not want is removed.
func (a *Agent) zoneFlow(id string) bool {
	h := fnv.New32a()
	h.Write([]byte(a.cfg.Zone))
	return strings.HasSuffix(id, ":"+a.cfg.Zone) || strings.HasSuffix(id, ":"+strconv.FormatUint(uint64(h.Sum32()), 36))
}

// natMemo is a listener's kernel flow as made last round: remade only
// when the spec's version, its ENI or SNAT source changed; the backends'
// health is checked every round.
type natMemo struct {
	version string
	addr    netip.AddrPort
	snat    netip.Addr
	flow    knat.Flow
}

// natFlowMemo is natFlow, reusing the last round's flow of k when its
// spec is the same and its backends' health did not change (parsing every
// flow's security group rules every round was O(endpoints) per change).
func (a *Agent) natFlowMemo(k listenerKey, sp listenerSpec, ep *model.Endpoint, st *store.State) knat.Flow {
	if a.natFlows == nil {
		a.natFlows = map[listenerKey]*natMemo{}
	}
	snat := zoneSNAT(ep, sp.eni)
	m := a.natFlows[k]
	if m == nil || m.version != sp.version || m.addr != sp.addr || m.snat != snat {
		m = &natMemo{version: sp.version, addr: sp.addr, snat: snat, flow: a.natFlow(k, sp, ep, st)}
		a.natFlows[k] = m
		return m.flow
	}
	healthy := a.backendsHealthy(sp)
	for i, b := range m.flow.Backends {
		if b.Healthy != healthy[i] {
			m.flow = a.natFlow(k, sp, ep, st)
			break
		}
	}
	return m.flow
}

// backendsHealthy is the Healthy of each backend of sp's kernel flow: as
// checked from here, with zone affinity the zone's healthy backends only
// while there is one.
func (a *Agent) backendsHealthy(sp listenerSpec) []bool {
	h := a.healthFor(sp.svcVPC)
	out := make([]bool, len(sp.cfg.Backends))
	local := false
	for i, b := range sp.cfg.Backends {
		out[i] = h.Healthy(b.Addr)
		local = local || (out[i] && b.ZoneID == a.cfg.Zone)
	}
	if sp.cfg.ZoneAffinity && local {
		for i, b := range sp.cfg.Backends {
			out[i] = out[i] && b.ZoneID == a.cfg.Zone
		}
	}
	return out
}

// natFlow is the kernel form of one listener spec.
func (a *Agent) natFlow(k listenerKey, sp listenerSpec, ep *model.Endpoint, st *store.State) knat.Flow {
	f := knat.Flow{ID: flowID(k, a.cfg.Zone), ENI: sp.addr, SNAT: zoneSNAT(ep, sp.eni)}
	if mbps := sp.cfg.BandwidthMbps; mbps > 0 {
		f.RateBytes = uint64(mbps) * 1_000_000 / 8
	}
	// Zone affinity as the proxy does it: the zone's healthy backends
	// while there is one, else every healthy one.
	healthy := a.backendsHealthy(sp)
	for i, b := range sp.cfg.Backends {
		f.Backends = append(f.Backends, knat.Backend{Addr: b.Addr, Zone: b.ZoneID, Healthy: healthy[i]})
	}
	for _, id := range ep.SecurityGroupIDs {
		g := st.SGs[id]
		if g == nil {
			continue
		}
		for _, r := range g.Rules {
			src, err := netip.ParsePrefix(r.SourceCidr)
			lo, hi, err2 := model.ParsePortRange(r.PortRange)
			if err != nil || err2 != nil || !src.Addr().Is4() {
				continue
			}
			f.SG = append(f.SG, knat.SGRule{Source: src, PortLo: uint16(lo), PortHi: uint16(hi),
				Accept: strings.EqualFold(r.Policy, "accept"), Priority: min(max(r.Priority, 1), 100)})
		}
	}
	if len(f.SG) == 0 {
		// No rule allows anything (the proxy's RuleSet drops all); knat
		// reads an empty SG as "no security group".
		f.SG = []knat.SGRule{{Source: netip.MustParsePrefix("0.0.0.0/0"), PortLo: 1, PortHi: 65535, Priority: 100}}
	}
	return f
}

// flowID names an endpoint zone port's flow: endpoint:port:zone, the zone
// hashed when that is longer than knat allows.
func flowID(k listenerKey, zone string) string {
	id := k.EndpointID + ":" + strconv.Itoa(int(k.Port)) + ":" + zone
	if len(id) <= 48 {
		return id
	}
	h := fnv.New32a()
	h.Write([]byte(zone))
	return k.EndpointID + ":" + strconv.Itoa(int(k.Port)) + ":" + strconv.FormatUint(uint64(h.Sum32()), 36)
}

// nsPath is the file of a namespace the netns driver names or adopted.
func nsPath(name string) string {
	if strings.HasPrefix(name, "/") {
		return name
	}
	return "/run/netns/" + name
}

// sweepNAT removes the kernel NAT pairs a previous process left in this
// zone's VPC namespaces that no nat endpoint of the store needs.
func (a *Agent) sweepNAT(d *desired, st *store.State, namer nsNamer) {
	keep := map[string]bool{}
	for _, ep := range st.Endpoints {
		if _, served := d.zones[ep.EndpointID]; a.cfg.Node != nil && !served {
			// A node keeps only the pairs of the ENIs it serves now: a
			// pair left for an ENI placed elsewhere since would stay for
			// ever (no flow of this process names it).
			continue
		}
		svc := st.Services[ep.ServiceID]
		if svc != nil && svc.VpcID != "" && model.EffectiveForwarding(svc) == model.ForwardNAT {
			keep[pairID(pairKey{Consumer: ep.VpcID, Provider: svc.VpcID})] = true
		}
	}
	paths := make([]string, 0, len(d.vpcs))
	for id, adopted := range d.vpcs {
		if adopted != "" {
			paths = append(paths, adopted)
		} else if a.cfg.Driver.Topology != nil {
			paths = append(paths, nsPath(namer.VPCNamespace(id)))
		}
	}
	defaultHub.sweep(paths, keep, a.log)
}
