package agent

import (
	"net/netip"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
)

// The full compute of the desired state: the reference the agent's
// incremental compute (incremental.go) is tested against
// (TestIncrementalMatchesFull) and benchmarked with
// (BenchmarkComputeRound). The agent's rounds do not use it.

// compute derives the desired state of zone from a store snapshot.
func compute(zone string, s *store.State) *desired {
	return computeScope(zoneScope(zone), s, newSpecMemo())
}

// computeScope derives the desired state of sc from a store snapshot;
// memo carries the listener specs of the previous call (the agent's
// rounds), a fresh one computes everything.
func computeScope(sc scope, s *store.State, memo *specMemo) *desired {
	zone := sc.zone
	memo.begin()
	d := &desired{vpcs: map[string]string{}, vswitches: map[string]vswitch{}, hosts: map[string]netdrv.Host{},
		enis: map[eniKey]bool{}, listeners: map[listenerKey]listenerSpec{}, ports: map[string][]uint16{}, zones: map[string]eniKey{},
		zones6: map[string]eniKey{}}
	addVPC := func(id string) bool {
		v, ok := s.VPCs[id]
		if ok {
			d.vpcs[id] = v.NetnsPath
		}
		return ok
	}
	addVSwitch := func(id string) bool {
		vsw := s.VSwitches[id]
		if vsw == nil || !addVPC(vsw.VpcID) {
			return false
		}
		d.vswitches[id] = vswitch{VpcID: vsw.VpcID, CIDR: vsw.CidrBlock, Gateway: vsw.Gateway}
		return true
	}
	for id, vsw := range s.VSwitches {
		if sc.vswitches && vsw.ZoneID == zone {
			addVSwitch(id)
		}
	}
	for id, h := range s.Hosts {
		if !sc.host(h) || !sc.vswitches && !addVSwitch(h.VSwitchID) {
			continue
		}
		vsw, ok := d.vswitches[h.VSwitchID]
		if !ok {
			continue
		}
		d.hosts[id] = netdrv.Host{ID: id, VpcID: h.VpcID, VSwitchID: h.VSwitchID, IP: h.IP, Prefix: vsw.CIDR, Gateway: vsw.Gateway}
		if sw := s.VSwitches[h.VSwitchID]; h.Ipv6Address.IsValid() && sw != nil && sw.Ipv6CidrBlock.Contains(h.Ipv6Address) { // dual-stack (issue 16)
			hd := d.hosts[id]
			hd.IP6, hd.Prefix6 = h.Ipv6Address, sw.Ipv6CidrBlock
			d.hosts[id] = hd
		}
	}
	for _, ep := range s.Endpoints {
		svc := s.Services[ep.ServiceID]
		for _, z := range ep.Zones {
			if !sc.eni(ep, z) || !sc.vswitches && !addVSwitch(z.VSwitchID) {
				continue
			}
			if _, ok := d.vswitches[z.VSwitchID]; !ok {
				continue
			}
			k := eniKey{VpcID: ep.VpcID, VSwitchID: z.VSwitchID, IP: z.IP}
			d.enis[k] = true
			d.zones[ep.EndpointID] = k
			d.addIPv6ENI(ep, svc, z)
			if !model.Carries(ep, svc) || z.ConnectionDisabled {
				continue
			}
			if svc.VpcID != "" && !addVPC(svc.VpcID) {
				continue
			}
			e := memo.endpoint(s, ep, svc)
			for _, port := range svc.Ports {
				d.listeners[listenerKey{EndpointID: ep.EndpointID, Port: uint16(port)}] = e.spec(memo, zone, z, k, port)
				d.ports[ep.EndpointID] = append(d.ports[ep.EndpointID], uint16(port))
			}
			d.addIPv6(memo, e, zone, z)
		}
	}
	d.udp = computeUDP(memo, zone, s, d)
	return d
}

// computeUDP derives the UDP listeners of zone from s, for the endpoint
// zones compute placed in d; memo is compute's, so each service's and
// group list's JSON is made once per snapshot for TCP and UDP together.
func computeUDP(memo *specMemo, zone string, s *store.State, d *desired) map[listenerKey]listenerSpec {
	out := map[listenerKey]listenerSpec{}
	for _, ep := range s.Endpoints {
		svc := s.Services[ep.ServiceID]
		if svc == nil || len(svc.UDPPorts) == 0 || !model.Carries(ep, svc) {
			continue
		}
		if _, ok := d.vpcs[svc.VpcID]; svc.VpcID != "" && !ok {
			continue
		}
		for _, z := range ep.Zones {
			k := eniKey{VpcID: ep.VpcID, VSwitchID: z.VSwitchID, IP: z.IP}
			if z.ZoneID != zone || z.ConnectionDisabled || !d.enis[k] {
				continue
			}
			e := memo.endpoint(s, ep, svc)
			k6, v6 := d.zones6[ep.EndpointID]
			for _, port := range svc.UDPPorts {
				sp := e.spec(memo, zone, z, k, port)
				sp.cfg.IdleTimeout = time.Duration(svc.UDPIdleTimeout) * time.Second // 0: proxy.DefaultUDPIdleTimeout
				sp.version += "/udp"
				out[listenerKey{EndpointID: ep.EndpointID, Port: uint16(port)}] = sp
				if v6 { // the zone's IPv6 ENI (dualstack.go)
					sp6 := sp
					sp6.eni, sp6.addr = k6, netip.AddrPortFrom(k6.IP, uint16(port))
					out[listenerKey{EndpointID: ep.EndpointID, Port: uint16(port), V6: true}] = sp6
				}
			}
		}
	}
	return out
}
