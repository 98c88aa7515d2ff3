package invariant

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
)

// Want is what the zone agents of some zones, all on this machine, should
// have made of a store state.
type Want struct {
	// VPCs must exist; MayVPCs may (a VPC that left these zones stays
	// until it is deleted: it may serve another zone).
	VPCs, MayVPCs map[string]bool
	Hosts         map[string]string // hostID -> vpcID
	VSwitches     map[netdrv.VSwitchRef]bool
	ENIs          map[netdrv.ENIRef]bool
	// Serving lists the endpoint zones that must carry traffic from
	// inside their VPC, and Refusing those whose ENI exists but must not
	// (not Connected, the service no longer admits the account, or the
	// security groups drop it).
	Serving, Refusing []EndpointZone
}

// EndpointZone is one endpoint's address in one zone.
type EndpointZone struct {
	EndpointID, VpcID, ZoneID string
	Addr                      netip.AddrPort
}

// WantOf derives Want from a state for the agents of zones. Adopted VPCs
// are left out (Inventory does not list them).
func WantOf(st *store.State, zones []string) Want {
	w := Want{VPCs: map[string]bool{}, MayVPCs: map[string]bool{}, Hosts: map[string]string{},
		VSwitches: map[netdrv.VSwitchRef]bool{}, ENIs: map[netdrv.ENIRef]bool{}}
	own := func(id string) bool { v := st.VPCs[id]; return v != nil && v.NetnsPath == "" }
	for id, v := range st.VPCs {
		if v.NetnsPath == "" {
			w.MayVPCs[id] = true
		}
	}
	for id, vsw := range st.VSwitches {
		if slices.Contains(zones, vsw.ZoneID) && own(vsw.VpcID) {
			w.VPCs[vsw.VpcID] = true
			w.VSwitches[netdrv.VSwitchRef{VpcID: vsw.VpcID, VSwitchID: id}] = true
		}
	}
	for id, h := range st.Hosts {
		if w.VSwitches[netdrv.VSwitchRef{VpcID: h.VpcID, VSwitchID: h.VSwitchID}] {
			w.Hosts[id] = h.VpcID
		}
	}
	for id, ep := range st.Endpoints {
		svc := st.Services[ep.ServiceID]
		for _, z := range ep.Zones {
			if !w.VSwitches[netdrv.VSwitchRef{VpcID: ep.VpcID, VSwitchID: z.VSwitchID}] {
				continue
			}
			w.ENIs[netdrv.ENIRef{VpcID: ep.VpcID, VSwitchID: z.VSwitchID, IP: z.IP}] = true
			if svc == nil {
				continue
			}
			if z.ServesIPv6(svc) {
				w.ENIs[netdrv.ENIRef{VpcID: ep.VpcID, VSwitchID: z.VSwitchID, IP: z.Ipv6Address}] = true
			}
			carried := ep.ConnectionStatus == model.ConnConnected && admits(svc, ep.AccountID)
			if svc.VpcID != "" && own(svc.VpcID) && carried {
				w.VPCs[svc.VpcID] = true
			}
			var groups []model.SecurityGroup
			for _, g := range ep.SecurityGroupIDs {
				if sg := st.SGs[g]; sg != nil {
					groups = append(groups, *sg)
				}
			}
			rules := model.CompileRules(groups...)
			for _, port := range svc.Ports {
				ez := EndpointZone{EndpointID: id, VpcID: ep.VpcID, ZoneID: z.ZoneID, Addr: netip.AddrPortFrom(z.IP, uint16(port))}
				// Echo dials from the VPC's namespace: the source is the ENI itself.
				if carried && rules.Allows(z.IP, uint16(port)) {
					w.Serving = append(w.Serving, ez)
				} else {
					w.Refusing = append(w.Refusing, ez)
				}
			}
		}
	}
	return w
}

// admits is the rule, stated here on its own rather than taken from the
// code under test: the owner and the allow-listed accounts only.
func admits(svc *model.EndpointService, account string) bool {
	return account == svc.AccountID || slices.Contains(svc.AllowedAccounts, account)
}

// Diff returns how the machine's inventory differs from Want.
func (w Want) Diff(have netdrv.Inventory) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	vpcs := setOf(have.VPCs)
	for id := range w.VPCs {
		if !vpcs[id] {
			add("vpc %s: no namespace", id)
		}
	}
	for id := range vpcs {
		if !w.MayVPCs[id] {
			add("namespace of vpc %s, which the store does not have", id)
		}
	}
	hosts := setOf(have.Hosts)
	for id := range w.Hosts {
		if !hosts[id] {
			add("host %s: no namespace", id)
		}
	}
	for id := range hosts {
		if _, ok := w.Hosts[id]; !ok {
			add("namespace of host %s, which the store does not have here", id)
		}
	}
	vsws := setOf(have.VSwitches)
	for r := range w.VSwitches {
		if !vsws[r] {
			add("vSwitch %s: no bridge in vpc %s", r.VSwitchID, r.VpcID)
		}
	}
	for r := range vsws {
		if !w.VSwitches[r] {
			add("bridge of vSwitch %s in vpc %s, which the store does not have here", r.VSwitchID, r.VpcID)
		}
	}
	enis := setOf(have.ENIs)
	for r := range w.ENIs {
		if !enis[r] {
			add("ENI %s: not on vSwitch %s", r.IP, r.VSwitchID)
		}
	}
	for r := range enis {
		if !w.ENIs[r] {
			add("ENI %s on vSwitch %s has no endpoint record", r.IP, r.VSwitchID)
		}
	}
	sort.Strings(bad)
	return bad
}

func setOf[K comparable](ks []K) map[K]bool {
	m := make(map[K]bool, len(ks))
	for _, k := range ks {
		m[k] = true
	}
	return m
}
