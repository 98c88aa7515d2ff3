package apiserver

import (
	"net/http"
	"slices"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Load balancers (nlb-...) are service resources: a VPC's listener ports
// and backends per zone. A service with load balancers attached takes
// their ports, zones and backends, written in the same transaction as the
// attachment and guarded on every load balancer read, so a load balancer
// deleted meanwhile fails the attach and an attach fails its delete.

func (a *API) createLoadBalancer(r *http.Request, req api.CreateLoadBalancerRequest) (any, error) {
	if len(req.Name) > api.MaxDescription {
		return nil, model.Invalid("LoadBalancerName", "the name must be at most %d characters", api.MaxDescription)
	}
	if err := checkPorts(req.Ports); err != nil {
		return nil, err
	}
	build := a.inParentVPC(r, req.VpcID, func(_ *store.Txn, vpc model.VPC) (string, any, error) {
		// The VPC's record is rewritten by every create in it (parentVPC):
		// two creates cannot both take the last slot.
		lbs, err := listOwned(a, r, store.KindLB, func(l model.LoadBalancer) bool { return l.VpcID == vpc.VpcID })
		if err != nil {
			return "", nil, err
		}
		if len(lbs) >= api.MaxLoadBalancersPerVPC {
			return "", nil, model.Errorf(http.StatusBadRequest, "QuotaExceeded.LoadBalancersPerVpc", "VPC %s has %d load balancers, the most a VPC may have", vpc.VpcID, len(lbs))
		}
		vsws, err := a.vpcVSwitches(r, vpc.VpcID)
		if err != nil {
			return "", nil, err
		}
		backends, err := a.checkBackends("Backends", req.Ports, req.Backends, &vpc, vsws)
		if err != nil {
			return "", nil, err
		}
		l := model.LoadBalancer{LoadBalancerID: model.NewID(model.PrefixLB), AccountID: vpc.AccountID, Name: req.Name,
			VpcID: vpc.VpcID, Ports: req.Ports, Backends: backends, Zones: zonesOf(backends),
			Status: model.StatusActive, CreateTime: now()}
		return l.LoadBalancerID, l, nil
	})
	return createThenGet[model.LoadBalancer](a, r, store.KindLB, req.ClientToken, req.DryRun, req, build)
}

// zonesOf is the sorted zones of backends.
func zonesOf(backends []model.Backend) []string {
	var zones []string
	for _, b := range backends {
		if !slices.Contains(zones, b.ZoneID) {
			zones = append(zones, b.ZoneID)
		}
	}
	slices.Sort(zones)
	return zones
}

// lbServices are the services (of any account: only the owner's can
// attach) that have load balancer id attached.
func (a *API) lbServices(r *http.Request, id string) ([]model.EndpointService, error) {
	all, err := store.List[model.EndpointService](r.Context(), a.st, a.st.KindPrefix(store.KindService))
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(s model.EndpointService) bool { return !slices.Contains(s.LoadBalancerIDs, id) }), nil
}

// getLoadBalancer answers a load balancer with the services it is attached
// to and each backend's health as the agents serving those services see it.
func (a *API) getLoadBalancer(r *http.Request) (any, error) {
	l, _, err := getOwned[model.LoadBalancer](a, r, store.KindLB, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	svcs, err := a.lbServices(r, l.LoadBalancerID)
	if err != nil || len(svcs) == 0 {
		return l, err
	}
	ls, err := a.liveStatus(r, store.KindEndpoint)
	if err != nil {
		return nil, err
	}
	rank := map[string]int{"": 0, "Unknown": 1, "Unhealthy": 2, "Healthy": 3}
	for _, s := range svcs {
		l.ServiceIDs = append(l.ServiceIDs, s.ServiceID)
		view := model.EndpointService{ServiceID: s.ServiceID, Ports: l.Ports, Resources: slices.Clone(l.Backends)}
		ls.backendHealth(&view)
		for i, b := range view.Resources {
			if rank[b.Health] > rank[l.Backends[i].Health] {
				l.Backends[i].Health = b.Health
			}
		}
	}
	slices.Sort(l.ServiceIDs)
	return l, nil
}

// listLoadBalancers lists the caller's load balancers (filter: vpcId),
// each with the services it is attached to.
func (a *API) listLoadBalancers(r *http.Request) (any, error) {
	vpc := r.URL.Query().Get(api.FilterVpcID)
	items, err := listOwned(a, r, store.KindLB, func(l model.LoadBalancer) bool { return vpc == "" || l.VpcID == vpc })
	if err != nil {
		return nil, err
	}
	svcs, err := listOwned[model.EndpointService](a, r, store.KindService, func(s model.EndpointService) bool { return len(s.LoadBalancerIDs) > 0 })
	if err != nil {
		return nil, err
	}
	for i := range items {
		for _, s := range svcs {
			if slices.Contains(s.LoadBalancerIDs, items[i].LoadBalancerID) {
				items[i].ServiceIDs = append(items[i].ServiceIDs, s.ServiceID)
			}
		}
	}
	return paginate(r, items, model.LoadBalancer.ID)
}

// deleteLoadBalancer refuses while a service has it attached (an attach
// meanwhile rewrites the load balancer and fails the delete).
func (a *API) deleteLoadBalancer(r *http.Request, l *model.LoadBalancer, _ *store.Txn) error {
	svcs, err := a.lbServices(r, l.LoadBalancerID)
	if err != nil {
		return err
	}
	if len(svcs) > 0 {
		return dependency(store.KindLB, l.LoadBalancerID, "endpoint service "+svcs[0].ServiceID)
	}
	return nil
}

// lbSet is what a service takes from its load balancers.
type lbSet struct {
	VpcID    string
	Ports    []int
	Backends []model.Backend
}

// serviceLBs reads the caller's load balancers ids (guarding t on each)
// and merges them: one VPC (vpcID when given), the same listener ports,
// the union of their backends (at most MaxBackendsPerService).
func (a *API) serviceLBs(r *http.Request, t *store.Txn, ids []string, vpcID string) (lbSet, error) {
	out := lbSet{VpcID: vpcID}
	seen := map[model.Backend]bool{}
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return out, model.Invalid("LoadBalancerIds", "load balancer %s is listed twice", id)
		}
		l, rev, err := getOwned[model.LoadBalancer](a, r, store.KindLB, id)
		if err != nil {
			return out, err
		}
		t.Touch(a.st.ResourceKey(store.KindLB, id), rev, l)
		if out.VpcID == "" {
			if _, err := a.parentVPC(r, t, l.VpcID); err != nil {
				return out, err
			}
			out.VpcID = l.VpcID
		}
		if l.VpcID != out.VpcID {
			return out, model.Invalid("LoadBalancerId", "load balancer %s is in VPC %s, not in the service's VPC %s", id, l.VpcID, out.VpcID)
		}
		if out.Ports == nil {
			out.Ports = slices.Clone(l.Ports)
		} else if !sameSet(out.Ports, l.Ports) {
			return out, model.Invalid("LoadBalancerId", "load balancer %s listens on ports %v, the service's other load balancers on %v: a service's load balancers share their ports", id, l.Ports, out.Ports)
		}
		for _, b := range l.Backends {
			b.Health = ""
			if !seen[b] {
				seen[b] = true
				out.Backends = append(out.Backends, b)
			}
		}
	}
	if len(out.Backends) > api.MaxBackendsPerService {
		return out, model.Errorf(http.StatusBadRequest, "QuotaExceeded.BackendsPerService", "a service has at most %d backends; these load balancers have %d together", api.MaxBackendsPerService, len(out.Backends))
	}
	return out, nil
}

func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// setServiceLBs makes ids the service's load balancers: its ports, zones
// and backends become theirs, in t with guards on each of them.
func (a *API) setServiceLBs(r *http.Request, t *store.Txn, s *model.EndpointService, ids []string) error {
	if s.VpcID == "" {
		return model.Errorf(http.StatusBadRequest, "OperationDenied.HostNetworkService", "service %s publishes host-network backends; load balancers attach to services in a VPC", s.ServiceID)
	}
	set, err := a.serviceLBs(r, t, ids, s.VpcID)
	if err != nil {
		return err
	}
	s.LoadBalancerIDs, s.Ports, s.Resources, s.Zones = ids, set.Ports, set.Backends, zonesOf(set.Backends)
	return nil
}

// attachServiceLB attaches a load balancer to the caller's service. The
// service's backends given at creation (no load balancer yet) are replaced.
func (a *API) attachServiceLB(r *http.Request, req api.ServiceLoadBalancerRequest) (any, error) {
	id, lbID := r.PathValue("id"), req.LoadBalancerID
	if lbID == "" {
		return nil, model.Invalid("LoadBalancerId", "loadBalancerId is required")
	}
	s, _, err := getOwned[model.EndpointService](a, r, store.KindService, id)
	if err != nil {
		return nil, err
	}
	if slices.Contains(s.LoadBalancerIDs, lbID) {
		return nil, model.Errorf(http.StatusBadRequest, "IncorrectStatus.ResourceAttached", "load balancer %s is already attached to service %s", lbID, id)
	}
	if req.DryRun {
		if err := a.setServiceLBs(r, a.st.NewTxn(), &s, append(slices.Clone(s.LoadBalancerIDs), lbID)); err != nil {
			return nil, err
		}
		return dryRunOK(r), nil
	}
	return update(a, r, store.KindService, id, func(s *model.EndpointService, t *store.Txn) error {
		if slices.Contains(s.LoadBalancerIDs, lbID) {
			return model.Errorf(http.StatusBadRequest, "IncorrectStatus.ResourceAttached", "load balancer %s is already attached to service %s", lbID, id)
		}
		return a.setServiceLBs(r, t, s, append(slices.Clone(s.LoadBalancerIDs), lbID))
	})
}

// detachServiceLB detaches a load balancer; the last resource of a
// service cannot go.
func (a *API) detachServiceLB(r *http.Request) (any, error) {
	id, lbID := r.PathValue("id"), r.PathValue("lb")
	if _, _, err := getOwned[model.EndpointService](a, r, store.KindService, id); err != nil {
		return nil, err
	}
	return update(a, r, store.KindService, id, func(s *model.EndpointService, t *store.Txn) error {
		i := slices.Index(s.LoadBalancerIDs, lbID)
		if i < 0 {
			return model.Errorf(http.StatusNotFound, "EndpointServiceResourceNotFound", "load balancer %s is not attached to service %s", lbID, id)
		}
		if len(s.LoadBalancerIDs) == 1 {
			return model.Errorf(http.StatusBadRequest, "OperationDenied.LastResource", "load balancer %s is the last resource of service %s; attach another before detaching it (or delete the service)", lbID, id)
		}
		return a.setServiceLBs(r, t, s, slices.Delete(slices.Clone(s.LoadBalancerIDs), i, i+1))
	})
}
