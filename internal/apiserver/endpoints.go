package apiserver

import (
	"net/http"
	"net/netip"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

func (a *API) createEndpoint(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.CreateEndpointRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := model.ValidateName("EndpointName", req.Name, true); err != nil {
		return nil, err
	}
	if len(req.Zones) == 0 {
		return nil, model.Invalid("Zones", "an endpoint needs at least one zone (zoneId, vSwitchId)")
	}
	if len(req.Zones) > api.MaxZonesPerEndpoint {
		return nil, model.Errorf(http.StatusBadRequest, "QuotaExceeded.ZonesPerEndpoint", "an endpoint spans at most %d zones", api.MaxZonesPerEndpoint)
	}
	if len(req.SecurityGroupIDs) == 0 {
		return nil, model.Invalid("SecurityGroupIds", "an endpoint needs at least one security group")
	}
	svcRef := req.ServiceID
	if svcRef == "" {
		svcRef = req.ServiceName
	}
	if svcRef == "" {
		return nil, model.Invalid("ServiceName", "serviceName or serviceId is required")
	}
	build := func() (*plan, error) {
		svc, srev, err := a.visibleService(r, svcRef)
		if err != nil {
			return nil, err
		}
		vpc, vrev, err := getOwned(a, r, store.KindVPC, "Vpc", req.VpcID, vpcOwner)
		if err != nil {
			return nil, err
		}
		var sgGuards []clientv3.Cmp
		var sgTouches []clientv3.Op
		for _, sgID := range req.SecurityGroupIDs {
			sg, sgRev, err := getOwned(a, r, store.KindSG, "SecurityGroup", sgID, sgOwner)
			if err != nil {
				return nil, err
			}
			c, o := touch(a.st.Key(store.KindSG, sgID), sgRev, sg)
			sgGuards, sgTouches = append(sgGuards, c), append(sgTouches, o)
			if sg.VpcID != vpc.VpcID {
				return nil, model.Invalid("SecurityGroupIds", "security group %s belongs to %s, not to %s", sgID, sg.VpcID, vpc.VpcID)
			}
		}
		// The quota counts the VPC's index keys (no scan of every endpoint);
		// the VPC rewrite below serializes creates in one VPC.
		cnt, err := a.st.Client().Get(r.Context(), a.st.Key("vpcep", vpc.VpcID)+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return nil, internal("count endpoints of %s: %w", vpc.VpcID, err)
		}
		if cnt.Count >= api.MaxEndpointsPerVPC {
			return nil, model.Errorf(http.StatusBadRequest, "QuotaExceeded.EndpointsPerVpc", "a VPC has at most %d endpoints", api.MaxEndpointsPerVPC)
		}
		ep := model.Endpoint{EndpointID: model.NewID(model.PrefixEndpoint), AccountID: callerOf(r).AccountID, Name: req.Name,
			ServiceID: svc.ServiceID, ServiceName: svc.Name, VpcID: vpc.VpcID,
			SecurityGroupIDs: slices.Compact(slices.Sorted(slices.Values(req.SecurityGroupIDs))),
			EndpointStatus:   model.StatusCreating, ConnectionStatus: model.ConnPending, RegionID: a.naming.Region, CreateTime: now()}
		if svc.AutoAcceptEnabled {
			ep.ConnectionStatus = model.ConnConnected
		}
		ep.EndpointDomain = a.naming.EndpointDomain(ep.EndpointID, svc.ServiceID)
		// The VPC is rewritten (quota, deletion); the service only compared
		// (allow-list unchanged), so endpoint creates do not contend on it;
		// the index key svcep/<svc>/<ep> blocks the service's deletion.
		c1, o1 := touch(a.st.Key(store.KindVPC, vpc.VpcID), vrev, vpc)
		c2 := clientv3.Compare(clientv3.ModRevision(a.st.Key(store.KindService, svc.ServiceID)), "=", srev)
		p := &plan{id: ep.EndpointID, cmps: append([]clientv3.Cmp{c1, c2}, sgGuards...),
			ops: append([]clientv3.Op{o1, clientv3.OpPut(a.svcEndpointKey(svc.ServiceID, ep.EndpointID), ""),
				clientv3.OpPut(a.st.Key("vpcep", vpc.VpcID, ep.EndpointID), "")}, sgTouches...)}
		allocs := map[string]*allocator{}
		for i, z := range req.Zones {
			if err := a.checkZone("Zones.ZoneId", z.ZoneID); err != nil {
				return nil, err
			}
			if slices.ContainsFunc(req.Zones[:i], func(o api.EndpointZoneRequest) bool { return o.ZoneID == z.ZoneID }) {
				return nil, model.Invalid("Zones.ZoneId", "zone %s is given twice; an endpoint has one vSwitch per zone", z.ZoneID)
			}
			if !slices.Contains(svc.Zones, z.ZoneID) {
				return nil, model.Errorf(http.StatusBadRequest, "InvalidZoneId.NotSupportedByService", "service %s is not available in zone %s; its zones are %v", svc.Name, z.ZoneID, svc.Zones)
			}
			vsw, _, err := getOwned(a, r, store.KindVSwitch, "VSwitch", z.VSwitchID, vswOwner)
			if err != nil {
				return nil, err
			}
			if vsw.VpcID != vpc.VpcID {
				return nil, model.Invalid("Zones.VSwitchId", "vSwitch %s belongs to %s, not to %s", vsw.VSwitchID, vsw.VpcID, vpc.VpcID)
			}
			if vsw.ZoneID != z.ZoneID {
				return nil, model.Invalid("Zones.VSwitchId", "vSwitch %s is in zone %s, not in %s", vsw.VSwitchID, vsw.ZoneID, z.ZoneID)
			}
			var want netip.Addr
			if z.IP != "" {
				if want, err = netip.ParseAddr(z.IP); err != nil || !want.Is4() {
					return nil, model.Invalid("Zones.Ip", "%q is not an IPv4 address", z.IP)
				}
			}
			al := allocs[vsw.VSwitchID]
			if al == nil {
				if al, err = a.newAllocator(r.Context(), vsw); err != nil {
					return nil, err
				}
				allocs[vsw.VSwitchID] = al
			}
			ip, err := al.take("Zones.Ip", want)
			if err != nil {
				return nil, err
			}
			eni := model.NewID(model.PrefixENI)
			ep.Zones = append(ep.Zones, model.EndpointZone{ZoneID: z.ZoneID, VSwitchID: vsw.VSwitchID, IP: ip.String(), EniID: eni,
				ZoneDomain: a.naming.ZoneDomain(ep.EndpointID, z.ZoneID, svc.ServiceID), ZoneStatus: model.ZoneCreating})
			c, o := a.claim(vsw.VSwitchID, ip, eni)
			p.cmps, p.ops = append(p.cmps, c, a.exists(store.KindVSwitch, vsw.VSwitchID)), append(p.ops, o)
		}
		p.value = ep
		return p, nil
	}
	if req.DryRun {
		return dryRun(r, build)
	}
	res, err := a.create(r, store.KindEndpoint, req.ClientToken, req, build)
	if err != nil {
		return nil, err
	}
	return a.getEndpointView(r, res.id)
}

// svcEndpointKey indexes an endpoint under its service.
func (a *API) svcEndpointKey(svcID, epID string) string { return a.st.Key("svcep", svcID, epID) }

func (a *API) getEndpoint(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.getEndpointView(r, r.PathValue("id"))
}

func (a *API) getEndpointView(r *http.Request, id string) (any, error) {
	ep, _, err := getOwned(a, r, store.KindEndpoint, "Endpoint", id, epOwner)
	if err != nil {
		return nil, err
	}
	st, err := a.liveStatus(r)
	if err != nil {
		return nil, err
	}
	return st.view(ep), nil
}

func (a *API) listEndpoints(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	vpc, svc := q.Get("vpcId"), q.Get("serviceId")
	items, err := listOwned(a, r, store.KindEndpoint, epOwner, func(e model.Endpoint) bool {
		return (vpc == "" || e.VpcID == vpc) && (svc == "" || e.ServiceID == svc)
	})
	if err != nil {
		return nil, err
	}
	st, err := a.liveStatus(r)
	if err != nil {
		return nil, err
	}
	for i := range items {
		items[i] = st.view(items[i])
	}
	return paginate(r, items, func(v model.Endpoint) string { return v.EndpointID })
}

func (a *API) deleteEndpoint(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	ep, rev, err := getOwned(a, r, store.KindEndpoint, "Endpoint", id, epOwner)
	if err != nil {
		return nil, err
	}
	key := a.st.Key(store.KindEndpoint, id)
	ops := []clientv3.Op{clientv3.OpDelete(key), clientv3.OpDelete(a.svcEndpointKey(ep.ServiceID, id)), clientv3.OpDelete(a.st.Key("vpcep", ep.VpcID, id))}
	for _, z := range ep.Zones {
		ops = append(ops, clientv3.OpDelete(a.ipamKey(z.VSwitchID, netip.MustParseAddr(z.IP))))
	}
	if err := a.deleteIf(r, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, ops...); err != nil {
		return nil, err
	}
	ep.EndpointStatus, ep.ConnectionStatus = model.StatusDeleting, model.ConnDeleting
	return ep, nil
}
