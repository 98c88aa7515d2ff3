package apiserver

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// validateService checks a create request against the state (the VPC,
// its vSwitches, the zones) and returns the backends to store; it guards t
// on the service VPC.
func (a *API) validateService(r *http.Request, t *store.Txn, req *api.CreateServiceRequest) ([]model.Backend, error) {
	if len(req.Description) > api.MaxDescription {
		return nil, model.Invalid("ServiceDescription", "description must be at most 256 characters")
	}
	if req.ConnectBandwidth < 0 || req.ConnectBandwidth > api.MaxBandwidthMbps {
		return nil, model.Invalid("ConnectBandwidth", "connectBandwidth must be 0 (unlimited) to 10240 Mbps")
	}
	if err := checkConnLimits(&req.MaxConnsPerEndpoint, &req.NewConnsPerSecond); err != nil {
		return nil, err
	}
	if req.IdleTimeout == 0 {
		req.IdleTimeout = 900
	}
	if err := model.ValidateProxyTLVs("ProxyProtocolTlvs", req.ProxyProtocolTLVs); err != nil {
		return nil, err
	}
	if req.IdleTimeout < 1 || req.IdleTimeout > 86400 {
		return nil, model.Invalid("IdleTimeoutSeconds", "idleTimeoutSeconds must be 1 to 86400")
	}
	if !model.ValidForwarding(req.Forwarding) {
		return nil, model.Invalid("Forwarding", "forwarding %q must be proxy, nat or auto", req.Forwarding)
	}
	var err error
	if req.AddressIPVersion, err = model.ParseAddressIPVersion(req.AddressIPVersion); err != nil {
		return nil, err
	}
	var backends []model.Backend
	if len(req.LoadBalancerIDs) > 0 {
		if len(req.UDPPorts) > 0 {
			return nil, model.Invalid("UdpPorts", "load balancers carry TCP only: give udpPorts with resources, not loadBalancerIds")
		}
		if len(req.Resources) > 0 || len(req.Ports) > 0 {
			return nil, model.Invalid("LoadBalancerIds", "give either ports and resources or load balancers, not both")
		}
		lbs, err := a.serviceLBs(r, t, req.LoadBalancerIDs, req.VpcID)
		if err != nil {
			return nil, err
		}
		req.VpcID, req.Ports, backends = lbs.VpcID, lbs.Ports, lbs.Backends
	} else {
		if err := checkServicePorts(req.Ports, req.UDPPorts); err != nil {
			return nil, err
		}
		var vpc *model.VPC
		var vsws []model.VSwitch
		if req.VpcID != "" {
			v, err := a.parentVPC(r, t, req.VpcID)
			if err != nil {
				return nil, err
			}
			vpc = &v
			if vsws, err = a.vpcVSwitches(r, v.VpcID); err != nil {
				return nil, err
			}
		}
		var err error
		if backends, err = a.checkBackends("Resources", portNumbers(req.Ports, req.UDPPorts), req.Resources, vpc, vsws); err != nil {
			return nil, err
		}
	}
	if err := checkUDPOptions(req); err != nil {
		return nil, err
	}
	if req.VpcID == "" && !callerOf(r).Admin {
		return nil, model.Errorf(http.StatusForbidden, "Forbidden.HostNetworkBackend",
			"only the admin may publish backends on the host network; give the service's vpcId and put the backends in its vSwitches")
	}
	if err := checkForwarding(&model.EndpointService{Forwarding: req.Forwarding, VpcID: req.VpcID, ProxyProtocol: req.ProxyProtocol,
		MaxConnsPerEndpoint: req.MaxConnsPerEndpoint, NewConnsPerSecond: req.NewConnsPerSecond, AddressIPVersion: req.AddressIPVersion}); err != nil {
		return nil, err
	}
	if len(req.AllowedAccounts) > api.MaxAllowedAccounts {
		return nil, allowListFull()
	}
	for i, acct := range req.AllowedAccounts {
		if !model.ValidAccountID(acct) {
			return nil, model.Invalid("AllowedAccounts", "%q is not a 16-digit account ID", acct)
		}
		if slices.Contains(req.AllowedAccounts[:i], acct) {
			return nil, model.Invalid("AllowedAccounts", "account %s is listed twice", acct)
		}
	}
	return backends, nil
}

// allowListFull is the error of an allow-list beyond its cap.
func allowListFull() error {
	return model.Errorf(http.StatusBadRequest, "QuotaExceeded.AllowedAccountsPerService", "a service allow-lists at most %d accounts", api.MaxAllowedAccounts)
}

// checkPorts validates the listener ports of a service or load balancer.
func checkPorts(ports []int) error {
	if len(ports) == 0 || len(ports) > api.MaxPortsPerService {
		return model.Invalid("Ports", "1 to %d listener ports are needed", api.MaxPortsPerService)
	}
	for i, p := range ports {
		if err := model.ValidatePort("Ports", p); err != nil {
			return err
		}
		if slices.Contains(ports[:i], p) {
			return model.Invalid("Ports", "port %d is listed twice", p)
		}
	}
	return nil
}

// vpcVSwitches lists the caller's vSwitches of a VPC.
func (a *API) vpcVSwitches(r *http.Request, vpcID string) ([]model.VSwitch, error) {
	return listOwned(a, r, store.KindVSwitch, func(s model.VSwitch) bool { return s.VpcID == vpcID })
}

// checkBackends validates backends (of a service or a load balancer,
// named field in errors) for the listener ports: at least one, at most
// MaxBackendsPerService, each an IPv4 or IPv6 address of a vSwitch of vpc in its
// zone (any address when vpc is nil: the admin's host network), none twice.
func (a *API) checkBackends(field string, ports []int, specs []api.BackendSpec, vpc *model.VPC, vsws []model.VSwitch) ([]model.Backend, error) {
	if len(specs) == 0 {
		return nil, model.Invalid(field, "at least one backend (zoneId, ip, port) is required")
	}
	if len(specs) > api.MaxBackendsPerService {
		return nil, model.Errorf(http.StatusBadRequest, "QuotaExceeded.BackendsPerService", "a service has at most %d backends", api.MaxBackendsPerService)
	}
	seen := map[model.Backend]bool{}
	var backends []model.Backend
	for i, b := range specs {
		if err := a.checkZone(field+".ZoneId", b.ZoneID); err != nil {
			return nil, err
		}
		ip, ok := backendIP(b.IP)
		if !ok {
			return nil, model.Invalid(field+".Ip", "backend %d: %q is not an IPv4 or IPv6 address", i+1, b.IP)
		}
		inVSwitch := backendInVSwitch
		if ip.Is6() {
			inVSwitch = backendInVSwitch6
		}
		if vpc != nil {
			if err := inVSwitch(field, vpc, vsws, b.ZoneID, ip); err != nil {
				return nil, err
			}
		}
		if b.Port != 0 {
			if err := model.ValidatePort(field+".Port", b.Port); err != nil {
				return nil, err
			}
			if len(ports) > 1 {
				return nil, model.Invalid(field+".Port", "with several listener ports the backend port must be omitted (each port maps to the same backend port)")
			}
		}
		mb := model.Backend{ZoneID: b.ZoneID, IP: ip, Port: b.Port}
		if seen[mb] {
			return nil, model.Invalid(field, "backend %s:%d in %s is listed twice", b.IP, b.Port, b.ZoneID)
		}
		seen[mb] = true
		backends = append(backends, mb)
	}
	return backends, nil
}

// backendInVSwitch requires a backend to be a usable address of a vSwitch
// of the provider VPC in the backend's zone.
func backendInVSwitch(field string, vpc *model.VPC, vsws []model.VSwitch, zone string, ip netip.Addr) error {
	for _, s := range vsws {
		p := s.CidrBlock
		if !p.Contains(ip) {
			continue
		}
		if s.ZoneID != zone {
			return model.Invalid(field+".ZoneId", "backend %s is in vSwitch %s of zone %s, not %s", ip, s.VSwitchID, s.ZoneID, zone)
		}
		if model.Reserved(p, ip) {
			return model.Invalid(field+".Ip", "backend %s is the network, gateway or broadcast address of %s", ip, s.CidrBlock)
		}
		return nil
	}
	return model.Invalid(field+".Ip", "backend %s is in no vSwitch of the service VPC %s (%s)", ip, vpc.VpcID, vpc.CidrBlock)
}

func (a *API) createService(r *http.Request, req api.CreateServiceRequest) (any, error) {
	tagging, err := newTagging(req.Tags, req.ResourceGroupID)
	if err != nil {
		return nil, err
	}
	build := func(t *store.Txn) (string, any, error) {
		backends, err := a.validateService(r, t, &req)
		if err != nil {
			return "", nil, err
		}
		id := model.NewID(model.PrefixService)
		s := model.EndpointService{ServiceID: id, AccountID: callerOf(r).AccountID, Name: a.naming.ServiceName(id),
			Description: req.Description, ServiceDomain: a.naming.ServiceDomain(id), RegionID: a.naming.Region, VpcID: req.VpcID,
			Ports: req.Ports, UDPPorts: req.UDPPorts, UDPIdleTimeout: req.UDPIdleTimeout,
			UDPHealthCheckReq: req.UDPHealthCheckReq, UDPHealthCheckExp: req.UDPHealthCheckExp, Resources: backends, AddressIPVersion: req.AddressIPVersion, AutoAcceptEnabled: req.AutoAcceptEnabled,
			ZoneAffinityEnabled: req.ZoneAffinityEnabled, ProxyProtocol: req.ProxyProtocol, ProxyProtocolTLVs: proxyTLVs(req.ProxyProtocolTLVs),
			ConnectBandwidth: req.ConnectBandwidth, IdleTimeout: req.IdleTimeout,
			MaxConnsPerEndpoint: req.MaxConnsPerEndpoint, NewConnsPerSecond: req.NewConnsPerSecond,
			AllowedAccounts: append([]string{}, req.AllowedAccounts...), Status: model.StatusActive, CreateTime: now(),
			LoadBalancerIDs: req.LoadBalancerIDs, Forwarding: forwarding(req.Forwarding)}
		for _, b := range backends {
			if !slices.Contains(s.Zones, b.ZoneID) {
				s.Zones = append(s.Zones, b.ZoneID)
			}
		}
		slices.Sort(s.Zones)
		s.Tagging = tagging
		return id, s, nil
	}
	return createThenGet[model.EndpointService](a, r, store.KindService, req.ClientToken, req.DryRun, req, build)
}

// visibleService returns a service the caller owns or is allow-listed for.
func (a *API) visibleService(r *http.Request, nameOrID string) (model.EndpointService, int64, error) {
	id, ok := model.ServiceIDFromName(nameOrID)
	if !ok {
		return model.EndpointService{}, 0, model.NotFound("EndpointService", nameOrID)
	}
	s, rev, err := store.Get[model.EndpointService](r.Context(), a.st, a.st.ResourceKey(store.KindService, id))
	me := callerOf(r).AccountID
	if err == store.ErrNotFound || (err == nil && !s.Admits(me)) {
		return s, 0, model.NotFound("EndpointService", nameOrID)
	}
	return s, rev, err
}

func (a *API) getService(r *http.Request) (any, error) {
	s, _, err := a.visibleService(r, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if s.AccountID == callerOf(r).AccountID {
		ls, err := a.liveStatus(r, store.KindEndpoint)
		if err != nil {
			return nil, err
		}
		ls.backendHealth(&s)
	}
	return a.redactService(r, s), nil
}

// redactService hides the provider's internals from consumers.
func (a *API) redactService(r *http.Request, s model.EndpointService) model.EndpointService {
	if s.AccountID != callerOf(r).AccountID {
		s.Resources, s.AllowedAccounts, s.VpcID, s.LoadBalancerIDs = nil, nil, "", nil
	}
	return redactTags(r, s)
}

// listServices lists the caller's own services.
// searchServices is Alibaba's ListVpcEndpointServicesByUser: services that
// allow-list the caller, optionally filtered by (a part of) the service name.
func (a *API) searchServices(r *http.Request) (any, error) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("serviceName")))
	all, err := store.List[model.EndpointService](r.Context(), a.st, a.st.KindPrefix(store.KindService))
	if err != nil {
		return nil, err
	}
	me := callerOf(r).AccountID
	var out []model.EndpointService
	for _, s := range all {
		if s.Admits(me) && (q == "" || strings.Contains(s.Name, q) || s.ServiceID == q) {
			out = append(out, a.redactService(r, s))
		}
	}
	return paginate(r, out, func(v model.EndpointService) string { return v.ServiceID })
}

func (a *API) updateService(r *http.Request, req api.UpdateServiceRequest) (any, error) {
	id := r.PathValue("id")
	if _, _, err := getOwned[model.EndpointService](a, r, store.KindService, id); err != nil {
		return nil, err
	}
	if b := req.ConnectBandwidth; b != nil && (*b < 0 || *b > api.MaxBandwidthMbps) {
		return nil, model.Invalid("ConnectBandwidth", "connectBandwidth must be 0 (unlimited) to 10240 Mbps")
	}
	if t := req.IdleTimeout; t != nil && (*t < 1 || *t > 86400) {
		return nil, model.Invalid("IdleTimeoutSeconds", "idleTimeoutSeconds must be 1 to 86400")
	}
	if t := req.UDPIdleTimeout; t != nil && (*t < 0 || *t > 86400) {
		return nil, model.Invalid("UdpIdleTimeoutSeconds", "udpIdleTimeoutSeconds must be 1 to 86400 (0: 60)")
	}
	if tlvs := req.ProxyProtocolTLVs; tlvs != nil {
		if err := model.ValidateProxyTLVs("ProxyProtocolTlvs", *tlvs); err != nil {
			return nil, err
		}
	}
	if err := checkConnLimits(req.MaxConnsPerEndpoint, req.NewConnsPerSecond); err != nil {
		return nil, err
	}
	if d := req.Description; d != nil && len(*d) > api.MaxDescription {
		return nil, model.Invalid("ServiceDescription", "description must be at most 256 characters")
	}
	if v := req.AddressIPVersion; v != nil {
		p, err := model.ParseAddressIPVersion(*v)
		if err != nil {
			return nil, err
		}
		req.AddressIPVersion = &p
	}
	return update(a, r, store.KindService, id, func(s *model.EndpointService, _ *store.Txn) error {
		setIf(&s.Description, req.Description)
		setIf(&s.AutoAcceptEnabled, req.AutoAcceptEnabled)
		setIf(&s.ZoneAffinityEnabled, req.ZoneAffinityEnabled)
		setIf(&s.ProxyProtocol, req.ProxyProtocol)
		if req.ProxyProtocolTLVs != nil {
			s.ProxyProtocolTLVs = proxyTLVs(*req.ProxyProtocolTLVs)
		}
		setIf(&s.ConnectBandwidth, req.ConnectBandwidth)
		setIf(&s.IdleTimeout, req.IdleTimeout)
		setIf(&s.UDPIdleTimeout, req.UDPIdleTimeout)
		setIf(&s.MaxConnsPerEndpoint, req.MaxConnsPerEndpoint)
		setIf(&s.NewConnsPerSecond, req.NewConnsPerSecond)
		setIf(&s.AddressIPVersion, req.AddressIPVersion)
		if req.Forwarding != nil {
			s.Forwarding = forwarding(*req.Forwarding)
		}
		// Checked on the result: a change to the PROXY protocol or the
		// limits may conflict with a nat service's mode too.
		return checkForwarding(s)
	})
}

// proxyTLVs is the stored form of a TLV choice: nil (not given) becomes
// the default, anything else its names in wire order, never nil.
func proxyTLVs(given []string) []string {
	if given == nil {
		given = model.DefaultProxyTLVs
	}
	return model.SortProxyTLVs(given)
}

// checkConnLimits checks a service's per-endpoint connection limits (nil:
// not being set).
func checkConnLimits(maxConns, perSec *int) error {
	if v := maxConns; v != nil && (*v < 0 || *v > api.MaxEndpointConnLimit) {
		return model.Invalid("MaxConnectionsPerEndpoint", "maxConnectionsPerEndpoint must be 0 (the server's default) to %d", api.MaxEndpointConnLimit)
	}
	if v := perSec; v != nil && (*v < 0 || *v > api.MaxEndpointConnLimit) {
		return model.Invalid("NewConnectionsPerSecond", "newConnectionsPerSecond must be 0 (the server's default) to %d", api.MaxEndpointConnLimit)
	}
	return nil
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// deleteService refuses while an endpoint of the service is Connected or
// Pending; endpoints it disconnected (or rejected) turn ServiceDeleted:
// the first batch in the delete's transaction, each guarded by its
// revision, the rest after it (finishServiceDelete). An endpoint created
// after the read (its index key) makes the delete fail, and so does an
// accept committed after it, which rewrites the service.
func (a *API) deleteService(r *http.Request, s *model.EndpointService, t *store.Txn) error {
	id := s.ServiceID
	eps, rev, err := store.ListRecords[model.Endpoint](r.Context(), a.st, a.st.KindPrefix(store.KindEndpoint))
	if err != nil {
		return err
	}
	t.NoneCreatedAfter(a.st.ServiceEndpointsPrefix(id), rev)
	marked := map[string]bool{}
	for _, e := range eps {
		ep := e.Value
		if ep.ServiceID != id {
			continue
		}
		if ep.ConnectionStatus != model.ConnDisconnected {
			return endpointBlocks(id, ep.EndpointID+" (connection "+ep.ConnectionStatus+")")
		}
		marked[ep.EndpointID] = true
		if len(marked) <= txnBatch {
			ep.ConnectionStatus = model.ConnServiceDeleted
			t.Touch(e.Key, e.Rev, ep)
		}
	}
	return a.noUnreadEndpoints(r, id, marked)
}

// finishServiceDelete is the DELETE handler of a service: the delete,
// then the ServiceDeleted marks its first batch had no room for.
func (a *API) finishServiceDelete() handlerFunc {
	del := deleteOf(a, store.KindService, a.deleteService)
	return func(r *http.Request) (any, error) {
		out, err := del(r)
		if err != nil {
			return nil, err
		}
		return out, a.markServiceDeleted(r, r.PathValue("id"))
	}
}

// noUnreadEndpoints refuses a service delete while its endpoint index
// names an endpoint the read did not return (a bad record, or one created
// meanwhile): what the delete cannot mark must block it.
func (a *API) noUnreadEndpoints(r *http.Request, svcID string, marked map[string]bool) error {
	ids, err := a.st.Keys(r.Context(), a.st.ServiceEndpointsPrefix(svcID))
	if err != nil {
		return err
	}
	for _, epID := range ids {
		if !marked[epID] {
			return endpointBlocks(svcID, epID)
		}
	}
	return nil
}

// endpointBlocks is the error of a service delete blocked by an endpoint.
func endpointBlocks(svcID, what string) error {
	return model.Errorf(http.StatusBadRequest, "DependencyViolation.EndpointExists",
		"endpoint service %s still has endpoint %s; reject it (or have the consumer delete it) first", svcID, what)
}

// forwarding is the stored form of a forwarding mode ("" = proxy).
func forwarding(given string) string {
	if given == "" {
		return model.ForwardProxy
	}
	return given
}

// checkForwarding checks a service's forwarding mode against what it
// uses: nat cannot give what only the proxy does (model.NATNeedsProxy),
// nor serve a service on the host network.
func checkForwarding(s *model.EndpointService) error {
	if !model.ValidForwarding(s.Forwarding) {
		return model.Invalid("Forwarding", "forwarding %q must be proxy, nat or auto", s.Forwarding)
	}
	if s.Forwarding != model.ForwardNAT {
		return nil
	}
	if s.VpcID == "" {
		return model.Errorf(http.StatusBadRequest, "InvalidParameter.Forwarding.NoVpc", "forwarding nat needs a service in a VPC (this one serves from the host network): use proxy or auto")
	}
	if why := model.NATNeedsProxy(s); why != "" {
		return model.Errorf(http.StatusBadRequest, "InvalidParameter.Forwarding.NeedsProxy", "forwarding nat cannot serve %s (only the proxy can): use proxy or auto, or turn them off", why)
	}
	return nil
}
