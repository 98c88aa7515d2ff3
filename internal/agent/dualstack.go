package agent

import (
	"fmt"
	"net/netip"

	"github.com/privlink/privlink/internal/model"
)

// Dual-stack endpoints (docs/architecture.md, IPv6 endpoints): a zone of a
// dual-stack service with an IPv6 ENI gets that ENI placed next to the
// IPv4 one and the same TCP and UDP listeners on it (same backends,
// security groups, limits and PROXY TLVs; the PROXY header then carries
// IPv6 addresses). Only the netns driver places IPv6 ENIs: the loopback
// driver is IPv4 only, so apply drops them there (dropIPv6).

// addIPv6ENI places z's IPv6 ENI when z serves IPv6, like its IPv4 one
// (whether or not the connection carries traffic).
func (d *desired) addIPv6ENI(ep *model.Endpoint, svc *model.EndpointService, z model.EndpointZone) {
	if z.ServesIPv6(svc) {
		k6 := eniKey{VpcID: ep.VpcID, VSwitchID: z.VSwitchID, IP: z.Ipv6Address}
		d.enis[k6] = true
		d.zones6[ep.EndpointID] = k6
	}
}

// addIPv6 adds the TCP listeners of z's IPv6 ENI to d (a carried zone);
// computeUDP adds its UDP listeners from d.zones6.
func (d *desired) addIPv6(memo *specMemo, e *epMemo, zone string, z model.EndpointZone) {
	k6, ok := d.zones6[e.ep.EndpointID]
	if !ok {
		return
	}
	for _, port := range e.svc.Ports {
		d.listeners[listenerKey{EndpointID: e.ep.EndpointID, Port: uint16(port), V6: true}] = e.spec(memo, zone, z, k6, port)
	}
}

// dropIPv6 removes IPv6 ENIs and listeners from d (drivers without IPv6).
func (d *desired) dropIPv6() {
	for k := range d.enis {
		if k.IP.Is6() {
			delete(d.enis, k)
		}
	}
	for k := range d.listeners {
		if k.V6 {
			delete(d.listeners, k)
		}
	}
	for k := range d.udp {
		if k.V6 {
			delete(d.udp, k)
		}
	}
	clear(d.zones6)
}

// ipv6Placed records an error for each zone whose IPv6 ENI is not placed.
func (a *Agent) ipv6Placed(d *desired, errs map[string]error) {
	for epID, k := range d.zones6 {
		if !a.enis[k] && errs[epID] == nil {
			errs[epID] = fmt.Errorf("IPv6 ENI %s not placed on %s", k.IP, k.VSwitchID)
		}
	}
}

// recordENIs puts the ENI addresses of each placed endpoint zone into the
// metrics (privlink_endpoint_eni_info), when they changed; apply's
// Metrics.Forget drops those of zones no longer served.
func (a *Agent) recordENIs(d *desired) {
	if a.eniInfo == nil {
		a.eniInfo = map[string][2]netip.Addr{}
	}
	for epID, k := range d.zones {
		var key [2]netip.Addr // compared as is: no formatting per endpoint and round
		if a.enis[k] {
			key[0] = k.IP
		}
		if k6, ok := d.zones6[epID]; ok && a.enis[k6] {
			key[1] = k6.IP
		}
		if old, ok := a.eniInfo[epID]; !ok || old != key {
			var addrs []netip.Addr
			for _, ip := range key {
				if ip.IsValid() {
					addrs = append(addrs, ip)
				}
			}
			a.cfg.Metrics.SetENIs(epID, a.cfg.Zone, addrs)
			a.eniInfo[epID] = key
		}
	}
	for epID := range a.eniInfo {
		if _, ok := d.zones[epID]; !ok {
			delete(a.eniInfo, epID)
		}
	}
}
