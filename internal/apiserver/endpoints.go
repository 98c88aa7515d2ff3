package apiserver

import (
	"net/http"
	"net/netip"
	"slices"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

func (a *API) createEndpoint(r *http.Request, req api.CreateEndpointRequest) (any, error) {
	if len(req.Zones) > api.MaxZonesPerEndpoint {
		return nil, model.Errorf(http.StatusBadRequest, "QuotaExceeded.ZonesPerEndpoint", "an endpoint spans at most %d zones", api.MaxZonesPerEndpoint)
	}
	if len(req.SecurityGroupIDs) == 0 {
		return nil, model.Invalid("SecurityGroupIds", "an endpoint needs at least one security group")
	}
	if len(req.SecurityGroupIDs) > api.MaxSecurityGroupsPerEndpoint {
		return nil, model.Errorf(http.StatusBadRequest, "QuotaExceeded.SecurityGroupsPerEndpoint", "an endpoint has at most %d security groups", api.MaxSecurityGroupsPerEndpoint)
	}
	for i, id := range req.SecurityGroupIDs {
		if slices.Contains(req.SecurityGroupIDs[:i], id) {
			return nil, model.Invalid("SecurityGroupIds", "security group %s is listed twice", id)
		}
	}
	tagging, err := newTagging(req.Tags, req.ResourceGroupID)
	if err != nil {
		return nil, err
	}
	svcRef := req.ServiceID
	if svcRef == "" {
		svcRef = req.ServiceName
	}
	if svcRef == "" {
		return nil, model.Invalid("ServiceName", "serviceName or serviceId is required")
	}
	build := func(t *store.Txn) (string, any, error) {
		svc, srev, err := a.visibleService(r, svcRef)
		if err != nil {
			return "", nil, err
		}
		vpc, err := a.parentVPC(r, t, req.VpcID)
		if err != nil {
			return "", nil, err
		}
		for _, sgID := range req.SecurityGroupIDs {
			sg, sgRev, err := getOwned[model.SecurityGroup](a, r, store.KindSG, sgID)
			if err != nil {
				return "", nil, err
			}
			if sg.VpcID != vpc.VpcID {
				return "", nil, model.Invalid("SecurityGroupIds", "security group %s belongs to %s, not to %s", sgID, sg.VpcID, vpc.VpcID)
			}
			t.Touch(a.st.ResourceKey(store.KindSG, sgID), sgRev, sg)
		}
		// The quota counts the VPC's index keys (no scan of every endpoint);
		// the VPC rewrite below serializes creates in one VPC.
		n, err := a.st.Count(r.Context(), a.st.VPCEndpointsPrefix(vpc.VpcID))
		if err != nil {
			return "", nil, err
		}
		if err := a.checkPerScope(r, "endpointsPerVpc", int(n), "VPC "+vpc.VpcID); err != nil {
			return "", nil, err
		}
		ep := model.Endpoint{EndpointID: model.NewID(model.PrefixEndpoint), AccountID: callerOf(r).AccountID, Name: req.Name, Description: req.Description,
			ServiceID: svc.ServiceID, ServiceName: svc.Name, VpcID: vpc.VpcID,
			SecurityGroupIDs: slices.Compact(slices.Sorted(slices.Values(req.SecurityGroupIDs))),
			EndpointStatus:   model.StatusCreating, ConnectionStatus: model.ConnPending, RegionID: a.naming.Region, CreateTime: now(), Tagging: tagging}
		if svc.AutoAcceptEnabled {
			ep.ConnectionStatus = model.ConnConnected
		}
		if len(req.Zones) == 0 {
			// Nothing to wait for: Active with no zone, no address and no
			// DNS answer until zones are added (AddZoneToVpcEndpoint), as
			// Alibaba's endpoints created without Zone.N.
			ep.EndpointStatus = model.StatusActive
		}
		ep.EndpointDomain = a.naming.EndpointDomain(ep.EndpointID, svc.ServiceID)
		// The VPC is rewritten (parentVPC: quota, deletion); the service only
		// compared (allow-list unchanged), so endpoint creates do not contend
		// on it; the index key svcep/<svc>/<ep> blocks the service's deletion.
		t.Unchanged(a.st.ResourceKey(store.KindService, svc.ServiceID), srev).
			Index(a.st.ServiceEndpointKey(svc.ServiceID, ep.EndpointID)).
			Index(a.st.VPCEndpointKey(vpc.VpcID, ep.EndpointID))
		allocs := map[string]*allocator{}
		var snats *allocator
		for i, z := range req.Zones {
			if err := a.checkZone("Zones.ZoneId", z.ZoneID); err != nil {
				return "", nil, err
			}
			if slices.ContainsFunc(req.Zones[:i], func(o api.EndpointZoneRequest) bool { return o.ZoneID == z.ZoneID }) {
				return "", nil, model.Invalid("Zones.ZoneId", "zone %s is given twice; an endpoint has one vSwitch per zone", z.ZoneID)
			}
			if !slices.Contains(svc.Zones, z.ZoneID) {
				return "", nil, model.Errorf(http.StatusBadRequest, "InvalidZoneId.NotSupportedByService", "service %s is not available in zone %s; its zones are %v", svc.Name, z.ZoneID, svc.Zones)
			}
			vsw, _, err := getOwned[model.VSwitch](a, r, store.KindVSwitch, z.VSwitchID)
			if err != nil {
				return "", nil, err
			}
			if vsw.VpcID != vpc.VpcID {
				return "", nil, model.Invalid("Zones.VSwitchId", "vSwitch %s belongs to %s, not to %s", vsw.VSwitchID, vsw.VpcID, vpc.VpcID)
			}
			if vsw.ZoneID != z.ZoneID {
				return "", nil, model.Invalid("Zones.VSwitchId", "vSwitch %s is in zone %s, not in %s", vsw.VSwitchID, vsw.ZoneID, z.ZoneID)
			}
			var want netip.Addr
			if z.IP != "" {
				if want, err = netip.ParseAddr(z.IP); err != nil || !want.Is4() {
					return "", nil, model.Invalid("Zones.Ip", "%q is not an IPv4 address", z.IP)
				}
			}
			al := allocs[vsw.VSwitchID]
			if al == nil {
				if al, err = a.newAllocator(r.Context(), vsw); err != nil {
					return "", nil, err
				}
				allocs[vsw.VSwitchID] = al
			}
			ip, err := al.take("Zones.Ip", want)
			if err != nil {
				return "", nil, err
			}
			eni := model.NewID(model.PrefixENI)
			if snats == nil {
				snats = a.snatAllocator(r)
			}
			snat, err := a.claimSNAT(snats, t, eni)
			if err != nil {
				return "", nil, err
			}
			ip6, err := a.takeENIIPv6(r.Context(), t, &svc, vsw, z.Ipv6Address, eni)
			if err != nil {
				return "", nil, err
			}
			ep.Zones = append(ep.Zones, model.EndpointZone{ZoneID: z.ZoneID, VSwitchID: vsw.VSwitchID, IP: ip, Ipv6Address: ip6, EniID: eni,
				ZoneDomain: a.naming.ZoneDomain(ep.EndpointID, z.ZoneID, svc.ServiceID), ZoneStatus: model.ZoneCreating, SnatIP: snat})
			a.claim(t, vsw.VSwitchID, ip, eni)
		}
		return ep.EndpointID, ep, nil
	}
	if req.DryRun {
		return dryRun(a, r, store.KindEndpoint, build)
	}
	unlock := a.vpcLocks.lock(req.VpcID)
	id, _, err := a.create(r, store.KindEndpoint, req.ClientToken, req, build)
	unlock()
	if err != nil {
		return nil, err
	}
	return a.getEndpointView(r, id)
}

func (a *API) getEndpoint(r *http.Request) (any, error) {
	return a.getEndpointView(r, r.PathValue("id"))
}

func (a *API) getEndpointView(r *http.Request, id string) (any, error) {
	ep, _, err := getOwned[model.Endpoint](a, r, store.KindEndpoint, id)
	if err != nil {
		return nil, err
	}
	st, err := a.st.ReadZoneStatus(r.Context(), &ep) // this endpoint's reports only
	if err != nil {
		return nil, err
	}
	return liveStatus{st}.view(ep), nil
}

// listEndpoints lists the caller's endpoints, one page: unfiltered through
// the account's index, by VPC through the VPC's endpoint index (O(page)
// each), by service through the intersection of the service's and the
// account's indexes (keys only); the live status is read for the page's
// endpoints only. Tag filters read every endpoint of the account.
func (a *API) listEndpoints(r *http.Request) (any, error) {
	q := r.URL.Query()
	vpc, svc := q.Get(api.FilterVpcID), q.Get(api.FilterServiceID)
	tags, err := tagFilter(r)
	if err != nil {
		return nil, err
	}
	acct := callerOf(r).AccountID
	if vpc != "" {
		// The VPC's endpoint index holds its owner's endpoints only
		// (endpoints are created in the caller's own VPC).
		if _, _, err := getOwned[model.VPC](a, r, store.KindVPC, vpc); err != nil {
			if me, ok := err.(*model.Error); !ok || me.Status != http.StatusNotFound {
				return nil, err
			}
			if _, err := parsePage(r); err != nil {
				return nil, err
			}
			return api.List[model.Endpoint]{Items: []model.Endpoint{}}, nil
		}
	}
	var page api.List[model.Endpoint]
	switch {
	case tags != nil:
		items, err := listOwned(a, r, store.KindEndpoint, func(e model.Endpoint) bool {
			return (vpc == "" || e.VpcID == vpc) && (svc == "" || e.ServiceID == svc)
		})
		if err == nil {
			items, err = filterTags(r, items)
		}
		if err == nil {
			page, err = paginate(r, items, func(v model.Endpoint) string { return v.EndpointID })
		}
		if err != nil {
			return nil, err
		}
	case svc != "":
		idx := []string{a.st.ServiceEndpointsPrefix(svc), a.st.OwnedPrefix(acct, store.KindEndpoint)}
		if vpc != "" {
			idx = append(idx, a.st.VPCEndpointsPrefix(vpc))
		}
		ids, err := a.indexIntersection(r, idx...)
		if err == nil {
			page, err = idsPage[model.Endpoint](a, r, ids, store.KindEndpoint)
		}
		if err != nil {
			return nil, err
		}
	case vpc != "":
		if page, err = indexPage[model.Endpoint](a, r, a.st.VPCEndpointsPrefix(vpc), store.KindEndpoint); err != nil {
			return nil, err
		}
	default:
		if page, err = indexPage[model.Endpoint](a, r, a.st.OwnedPrefix(acct, store.KindEndpoint), store.KindEndpoint); err != nil {
			return nil, err
		}
	}
	st, err := a.st.ReadZoneStatuses(r.Context(), page.Items) // the page's reports only
	if err != nil {
		return nil, err
	}
	for i := range page.Items {
		page.Items[i] = liveStatus{st}.view(page.Items[i])
	}
	return page, nil
}

// deleteEndpoint releases the endpoint's index keys and addresses with it.
func (a *API) deleteEndpoint(_ *http.Request, ep *model.Endpoint, t *store.Txn) error {
	t.Delete(a.st.ServiceEndpointKey(ep.ServiceID, ep.EndpointID)).Delete(a.st.VPCEndpointKey(ep.VpcID, ep.EndpointID))
	for _, z := range ep.Zones {
		a.releaseZoneIPs(t, z)
	}
	ep.EndpointStatus, ep.ConnectionStatus = model.StatusDeleting, model.ConnDeleting
	return nil
}
