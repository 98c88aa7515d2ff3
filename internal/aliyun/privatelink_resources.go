package aliyun

import (
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

// Service resources. A service's resources are either privlink load
// balancers (ResourceType nlb, ResourceId nlb-..., one resource per zone
// of the load balancer, as Alibaba lists an NLB) or, for services given
// their backends directly, the backends (ResourceType backend, ResourceId
// IP:PORT, an address in the provider's VPC in ZoneId, as
// `privlink service create --backend ZONE=IP:PORT`). A load balancer is
// attached and detached whole, in all its zones.
const (
	ResourceTypeNLB     = "nlb"
	ResourceTypeBackend = "backend"
)

// serviceResourceType is a service's ServiceResourceType.
func serviceResourceType(s api.EndpointService) string {
	if len(s.LoadBalancerIDs) > 0 {
		return ResourceTypeNLB
	}
	return ResourceTypeBackend
}

// serviceResources reads Resource.N of CreateVpcEndpointService: either
// load balancers (their IDs, each once however many zones name it) or
// backends with the provider VPC they are in (the caller's vSwitch of the
// resource's zone whose CIDR holds it; "" when none does: host-network
// backends, admin only).
func (c *call) serviceResources() (vpcID string, ports []int, backends []api.BackendSpec, lbs []string, err error) {
	res := c.p.structs("Resource")
	if len(res) == 0 {
		return "", nil, nil, nil, model.Errorf(http.StatusBadRequest, "MissingParameter", "at least one Resource.N (ResourceType=nlb with ResourceId=nlb-..., or ResourceType=backend with ResourceId=IP:PORT; ZoneId) is required")
	}
	kind := ""
	for i, r := range res {
		t := strings.ToLower(r["resourcetype"])
		if t != ResourceTypeNLB && t != ResourceTypeBackend {
			return "", nil, nil, nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported",
				"Resource.%d.ResourceType %q is not supported: privlink's service resources are its load balancers (nlb, `privlink load-balancer create`) and backends (backend, ResourceId=IP:PORT)", i+1, r["resourcetype"])
		}
		if kind != "" && t != kind {
			return "", nil, nil, nil, model.Invalid("ResourceType", "Resource.%d is of type %s, Resource.1 of type %s: a service's resources are of one type", i+1, t, kind)
		}
		kind = t
	}
	if kind == ResourceTypeNLB {
		for i, r := range res {
			id := r["resourceid"]
			if id == "" {
				return "", nil, nil, nil, model.Errorf(http.StatusBadRequest, "MissingParameter", "Resource.%d.ResourceId is required", i+1)
			}
			if z := r["zoneid"]; z != "" {
				if _, err := c.lbInZone(id, z); err != nil {
					return "", nil, nil, nil, err
				}
			}
			if !slices.Contains(lbs, id) {
				lbs = append(lbs, id)
			}
		}
		return "", nil, nil, lbs, nil
	}
	vsws, err := c.c.ListVSwitches(c.ctx, client.Filter{})
	if err != nil {
		return "", nil, nil, nil, err
	}
	seenPort := map[int]bool{}
	for i, r := range res {
		ap, perr := netip.ParseAddrPort(r["resourceid"])
		if perr != nil || ap.Addr().Zone() != "" || ap.Addr().Is4In6() || ap.Port() == 0 {
			return "", nil, nil, nil, model.Invalid("ResourceId", "Resource.%d.ResourceId %q must be IPv4:PORT or [IPV6]:PORT", i+1, r["resourceid"])
		}
		zone := r["zoneid"]
		if zone == "" {
			return "", nil, nil, nil, model.Errorf(http.StatusBadRequest, "MissingParameter", "Resource.%d.ZoneId is required", i+1)
		}
		in := ""
		for _, v := range vsws {
			if v.ZoneID == zone && (v.CidrBlock.Contains(ap.Addr()) || v.Ipv6CidrBlock.Contains(ap.Addr())) {
				in = v.VpcID
			}
		}
		if i > 0 && in != vpcID {
			return "", nil, nil, nil, model.Invalid("ResourceId", "all resources must be in one VPC (Resource.%d is not where Resource.1 is)", i+1)
		}
		vpcID = in
		port := int(ap.Port())
		if !seenPort[port] {
			seenPort[port] = true
			ports = append(ports, port)
		}
		backends = append(backends, api.BackendSpec{ZoneID: zone, IP: ap.Addr().String(), Port: port})
	}
	sort.Ints(ports)
	return vpcID, ports, backends, nil, nil
}

// lbInZone reads the caller's load balancer id and requires zone (when
// given) to be one of its zones.
func (c *call) lbInZone(id, zone string) (api.LoadBalancer, error) {
	l, err := c.c.GetLoadBalancer(c.ctx, id)
	if err != nil {
		return l, err
	}
	if zone != "" && !slices.Contains(l.Zones, zone) {
		return l, model.Invalid("ZoneId", "load balancer %s has no backends in zone %s (its zones: %v)", id, zone, l.Zones)
	}
	return l, nil
}

// resourceParams reads ServiceId, ResourceType, ResourceId and ZoneId of
// the single-resource actions; only nlb resources can be changed.
func (c *call) resourceParams(action string) (svc, id, zone string, err error) {
	if svc, err = c.p.required("ServiceId"); err != nil {
		return
	}
	typ, err := c.p.required("ResourceType")
	if err != nil {
		return
	}
	if id, err = c.p.required("ResourceId"); err != nil {
		return
	}
	switch strings.ToLower(typ) {
	case ResourceTypeNLB:
	case ResourceTypeBackend:
		err = model.Errorf(http.StatusBadRequest, "OperationUnsupported", "%s: backend resources are fixed at CreateVpcEndpointService; make a load balancer (`privlink load-balancer create`) to change a service's backends", action)
	default:
		err = model.Errorf(http.StatusBadRequest, "OperationUnsupported", "ResourceType %q is not supported: privlink's service resources are its load balancers (nlb) and backends (backend)", typ)
	}
	return svc, id, c.p.str("ZoneId"), err
}

// attachResourceToVpcEndpointService attaches a load balancer (all its
// zones; ZoneId, when given, must be one of them). Attaching one already
// attached, for one of its zones, succeeds: the zone is attached.
func attachResourceToVpcEndpointService(c *call) (response, error) {
	svc, id, zone, err := c.resourceParams("AttachResourceToVpcEndpointService")
	if err != nil {
		return nil, err
	}
	dry, err := c.p.boolean("DryRun")
	if err != nil {
		return nil, err
	}
	s, err := c.c.GetService(c.ctx, svc)
	if err != nil {
		return nil, err
	}
	if _, err := c.lbInZone(id, zone); err != nil {
		return nil, err
	}
	if zone != "" && slices.Contains(s.LoadBalancerIDs, id) {
		if dry {
			return dryRunChecked(s, nil)
		}
		return &Base{}, nil
	}
	if _, err := c.c.AttachServiceLoadBalancer(c.ctx, svc, api.ServiceLoadBalancerRequest{LoadBalancerID: id, DryRun: dry}); err != nil {
		return nil, err
	}
	return &Base{}, nil
}

// detachResourceFromVpcEndpointService detaches a load balancer (all its
// zones; ZoneId, when given, must be one of them).
func detachResourceFromVpcEndpointService(c *call) (response, error) {
	svc, id, zone, err := c.resourceParams("DetachResourceFromVpcEndpointService")
	if err != nil {
		return nil, err
	}
	dry, err := c.p.boolean("DryRun")
	if err != nil {
		return nil, err
	}
	if _, err := c.lbInZone(id, zone); err != nil {
		return nil, err
	}
	if dry {
		s, err := c.c.GetService(c.ctx, svc)
		if err == nil && !slices.Contains(s.LoadBalancerIDs, id) {
			err = model.Errorf(http.StatusNotFound, "EndpointServiceResourceNotFound", "load balancer %s is not attached to service %s", id, svc)
		} else if err == nil && len(s.LoadBalancerIDs) == 1 {
			err = model.Errorf(http.StatusBadRequest, "OperationDenied.LastResource", "load balancer %s is the last resource of service %s", id, svc)
		}
		return dryRunChecked(s, err)
	}
	if _, err := c.c.DetachServiceLoadBalancer(c.ctx, svc, id); err != nil {
		return nil, err
	}
	return &Base{}, nil
}

// updateVpcEndpointServiceResourceAttribute: the one attribute is
// AutoAllocatedEnabled, and privlink always assigns each endpoint zone the
// service's resources in that zone: true is what it does, false cannot be.
func updateVpcEndpointServiceResourceAttribute(c *call) (response, error) {
	svc, id, zone, err := c.resourceParams("UpdateVpcEndpointServiceResourceAttribute")
	if err != nil {
		return nil, err
	}
	auto, err := c.p.optBool("AutoAllocatedEnabled")
	if err != nil {
		return nil, err
	}
	dry, err := c.p.boolean("DryRun")
	if err != nil {
		return nil, err
	}
	s, err := c.c.GetService(c.ctx, svc)
	if err != nil {
		return nil, err
	}
	if _, err := c.lbInZone(id, zone); err != nil {
		return nil, err
	}
	if !slices.Contains(s.LoadBalancerIDs, id) {
		return nil, model.Errorf(http.StatusNotFound, "EndpointServiceResourceNotFound", "load balancer %s is not attached to service %s", id, svc)
	}
	if auto != nil && !*auto {
		return nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "AutoAllocatedEnabled=false is not supported by privlink: every endpoint zone is served by the service's resources in that zone, always")
	}
	if dry {
		return dryRunChecked(s, nil)
	}
	return &Base{}, nil
}

type checkResourceResponse struct {
	Base
	ResourceZoneCanBeDeleted bool `json:"ResourceZoneCanBeDeleted"`
	ResourceCanBeDowngraded  bool `json:"ResourceCanBeDowngraded"`
}

// checkResourceSupportOperate answers whether a load balancer's zone can
// be removed from the services using it: yes unless it is the last
// resource of one of them. privlink's load balancers have no
// specifications, so none can be downgraded.
func checkResourceSupportOperate(c *call) (response, error) {
	id, err := c.p.required("ResourceId")
	if err != nil {
		return nil, err
	}
	if t := c.p.str("ResourceType"); t != "" && !strings.EqualFold(t, ResourceTypeNLB) {
		return nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "ResourceType %q: only privlink load balancers (nlb) can be checked", t)
	}
	l, err := c.lbInZone(id, c.p.str("ZoneId"))
	if err != nil {
		return nil, err
	}
	out := &checkResourceResponse{ResourceZoneCanBeDeleted: true}
	for _, sid := range l.ServiceIDs {
		s, err := c.c.GetService(c.ctx, sid)
		if err != nil {
			return nil, err
		}
		if len(s.LoadBalancerIDs) == 1 {
			out.ResourceZoneCanBeDeleted = false
		}
	}
	return out, nil
}

type resourceView struct {
	ResourceId           string `json:"ResourceId"`
	ResourceType         string `json:"ResourceType"`
	ZoneId               string `json:"ZoneId"`
	Ip                   string `json:"Ip"`
	VpcId                string `json:"VpcId"`
	VSwitchId            string `json:"VSwitchId"`
	RegionId             string `json:"RegionId"`
	StatusInfo           string `json:"StatusInfo"`
	AutoAllocatedEnabled bool   `json:"AutoAllocatedEnabled"`
}

type listResourcesResponse struct {
	Base
	NextToken  string         `json:"NextToken"`
	MaxResults int            `json:"MaxResults"`
	Resources  []resourceView `json:"Resources"`
}

// listVpcEndpointServiceResources shows a service's load balancers, one
// resource per zone (StatusInfo: Healthy if a backend there is, else
// Unhealthy or Unknown), or its backends (ResourceId IP:PORT).
func listVpcEndpointServiceResources(c *call) (response, error) {
	s, err := c.service()
	if err != nil {
		return nil, err
	}
	vsws, err := c.c.ListVSwitches(c.ctx, client.Filter{VpcID: s.VpcID})
	if err != nil {
		return nil, err
	}
	vswOf := func(zone string, ip netip.Addr) string {
		for _, w := range vsws {
			if s.VpcID != "" && w.ZoneID == zone && w.CidrBlock.Contains(ip) {
				return w.VSwitchID
			}
		}
		return ""
	}
	zone := c.p.str("ZoneId")
	var views []resourceView
	for _, lbID := range s.LoadBalancerIDs {
		l, err := c.c.GetLoadBalancer(c.ctx, lbID)
		if err != nil {
			return nil, err
		}
		for _, z := range l.Zones {
			if zone != "" && z != zone {
				continue
			}
			v := resourceView{ResourceId: l.LoadBalancerID, ResourceType: ResourceTypeNLB, ZoneId: z, VpcId: l.VpcID,
				RegionId: s.RegionID, AutoAllocatedEnabled: true}
			rank := map[string]int{"": 0, "Unknown": 1, "Unhealthy": 2, "Healthy": 3}
			for _, b := range l.Backends {
				if b.ZoneID == z && v.VSwitchId == "" {
					v.VSwitchId = vswOf(z, b.IP)
				}
				if b.ZoneID == z && rank[b.Health] > rank[v.StatusInfo] {
					v.StatusInfo = b.Health
				}
			}
			views = append(views, v)
		}
	}
	if len(s.LoadBalancerIDs) == 0 {
		for _, b := range s.Resources {
			if zone != "" && b.ZoneID != zone {
				continue
			}
			// Port 0 is "the listener port": with one listener, that port;
			// with several, the backend serves each and the ID is its IP.
			rid := b.IP.String()
			switch {
			case b.Port != 0:
				rid = netip.AddrPortFrom(b.IP, uint16(b.Port)).String()
			case len(s.Ports) == 1:
				rid = netip.AddrPortFrom(b.IP, uint16(s.Ports[0])).String()
			}
			views = append(views, resourceView{ResourceId: rid, ResourceType: ResourceTypeBackend, ZoneId: b.ZoneID,
				Ip: b.IP.String(), VpcId: s.VpcID, VSwitchId: vswOf(b.ZoneID, b.IP), RegionId: s.RegionID, StatusInfo: b.Health, AutoAllocatedEnabled: true})
		}
	}
	page, next, max, err := tokenPage(c.p, views, func(v resourceView) string { return v.ZoneId + "/" + v.ResourceId })
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []resourceView{}
	}
	return &listResourcesResponse{NextToken: next, MaxResults: max, Resources: page}, nil
}
