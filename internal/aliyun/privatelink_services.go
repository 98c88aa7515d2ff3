package aliyun

import (
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

// Provider-side PrivateLink actions: services, their resources, users and
// connections.

// ResourceTypeBackend is the service resource type privlink serves until it
// has load balancers: ResourceId IP:PORT, an address in the provider's VPC
// (in ZoneId), as `privlink service create --backend ZONE=IP:PORT`.
const ResourceTypeBackend = "backend"

// serviceView is the SDK's privatelink.Service.
type serviceView struct {
	ServiceId             string   `json:"ServiceId"`
	ServiceName           string   `json:"ServiceName"`
	ServiceDomain         string   `json:"ServiceDomain"`
	ServiceDescription    string   `json:"ServiceDescription"`
	ServiceStatus         string   `json:"ServiceStatus"`
	ServiceBusinessStatus string   `json:"ServiceBusinessStatus"`
	ServiceType           string   `json:"ServiceType"`
	ServiceResourceType   string   `json:"ServiceResourceType"`
	ServiceSupportIPv6    bool     `json:"ServiceSupportIPv6"`
	AutoAcceptEnabled     bool     `json:"AutoAcceptEnabled"`
	ZoneAffinityEnabled   bool     `json:"ZoneAffinityEnabled"`
	ConnectBandwidth      int      `json:"ConnectBandwidth"`
	MaxBandwidth          int      `json:"MaxBandwidth"`
	MinBandwidth          int      `json:"MinBandwidth"`
	Payer                 string   `json:"Payer"`
	RegionId              string   `json:"RegionId"`
	CreateTime            string   `json:"CreateTime"`
	Zones                 []string `json:"Zones"`
}

func serviceViewOf(s api.EndpointService) serviceView {
	zones := s.Zones
	if zones == nil {
		zones = []string{}
	}
	return serviceView{ServiceId: s.ServiceID, ServiceName: s.Name, ServiceDomain: s.ServiceDomain, ServiceDescription: s.Description,
		ServiceStatus: s.Status, ServiceBusinessStatus: "Normal", ServiceType: "Interface", ServiceResourceType: ResourceTypeBackend,
		AutoAcceptEnabled: s.AutoAcceptEnabled, ZoneAffinityEnabled: s.ZoneAffinityEnabled, ConnectBandwidth: s.ConnectBandwidth,
		MaxBandwidth: 10240, MinBandwidth: 0, Payer: "Endpoint", RegionId: s.RegionID, CreateTime: s.CreateTime, Zones: zones}
}

// listedService is the SDK's privatelink.Service as the lists answer it:
// with its tags and resource group (the provider's own; empty for others).
type listedService struct {
	serviceView
	ResourceGroupId string     `json:"ResourceGroupId"`
	Tags            []tagModel `json:"Tags"`
}

func listedServiceOf(s api.EndpointService) listedService {
	return listedService{serviceView: serviceViewOf(s), ResourceGroupId: s.ResourceGroupID, Tags: tagModels(s.Tags)}
}

// noTagsOrGroups rejects tags and resource groups where privlink cannot
// honour them (filters over other accounts' resources, hosts).
func noTagsOrGroups(p params) error {
	if err := p.unsupported("ResourceGroupId", "resource groups apply to VPCs, vSwitches, security groups, services and endpoints only"); err != nil {
		return err
	}
	if len(p.structs("Tag")) > 0 {
		return model.Errorf(http.StatusBadRequest, "OperationUnsupported", "tags apply to VPCs, vSwitches, security groups, services and endpoints only, and filter only your own")
	}
	return nil
}

type createServiceResponse struct {
	Base
	ServiceId             string `json:"ServiceId"`
	ServiceName           string `json:"ServiceName"`
	ServiceDomain         string `json:"ServiceDomain"`
	ServiceDescription    string `json:"ServiceDescription"`
	ServiceStatus         string `json:"ServiceStatus"`
	ServiceBusinessStatus string `json:"ServiceBusinessStatus"`
	AutoAcceptEnabled     bool   `json:"AutoAcceptEnabled"`
	ZoneAffinityEnabled   bool   `json:"ZoneAffinityEnabled"`
	ServiceSupportIPv6    bool   `json:"ServiceSupportIPv6"`
	CreateTime            string `json:"CreateTime"`
	ResourceGroupId       string `json:"ResourceGroupId"`
}

// serviceBackends reads Resource.N as backends and finds the provider VPC
// they are in: the caller's vSwitch of the resource's zone whose CIDR holds
// it ("" when none does: host-network backends, admin only).
func (c *call) serviceBackends() (vpcID string, ports []int, backends []api.BackendSpec, err error) {
	res := c.p.structs("Resource")
	if len(res) == 0 {
		return "", nil, nil, model.Errorf(http.StatusBadRequest, "MissingParameter", "at least one Resource.N (ResourceType=backend, ResourceId=IP:PORT, ZoneId) is required")
	}
	vsws, err := c.c.ListVSwitches(c.ctx, client.Filter{})
	if err != nil {
		return "", nil, nil, err
	}
	seenPort := map[int]bool{}
	for i, r := range res {
		if !strings.EqualFold(r["resourcetype"], ResourceTypeBackend) {
			return "", nil, nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported",
				"Resource.%d.ResourceType %q is not supported: privlink has no load balancers yet; use ResourceType=backend with ResourceId=IP:PORT", i+1, r["resourcetype"])
		}
		ap, perr := netip.ParseAddrPort(r["resourceid"])
		if perr != nil || !ap.Addr().Is4() || ap.Port() == 0 {
			return "", nil, nil, model.Invalid("ResourceId", "Resource.%d.ResourceId %q must be IPv4:PORT", i+1, r["resourceid"])
		}
		zone := r["zoneid"]
		if zone == "" {
			return "", nil, nil, model.Errorf(http.StatusBadRequest, "MissingParameter", "Resource.%d.ZoneId is required", i+1)
		}
		in := ""
		for _, v := range vsws {
			if v.ZoneID == zone && v.CidrBlock.Contains(ap.Addr()) {
				in = v.VpcID
			}
		}
		if i > 0 && in != vpcID {
			return "", nil, nil, model.Invalid("ResourceId", "all resources must be in one VPC (Resource.%d is not where Resource.1 is)", i+1)
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
	return vpcID, ports, backends, nil
}

func createVpcEndpointService(c *call) (response, error) {
	for _, k := range []string{"ServiceSupportIPv6", "PrivateServiceDomainEnabled"} {
		if err := c.p.unsupported(k, "not supported yet", "false"); err != nil {
			return nil, err
		}
	}
	if err := c.p.unsupported("ServiceResourceType", "privlink has no load balancers yet; use backend resources", ResourceTypeBackend); err != nil {
		return nil, err
	}
	if err := c.p.unsupported("Payer", "privlink does not bill", "Endpoint"); err != nil {
		return nil, err
	}
	auto, err := c.p.boolean("AutoAcceptEnabled")
	if err != nil {
		return nil, err
	}
	affinity, err := c.p.boolean("ZoneAffinityEnabled")
	if err != nil {
		return nil, err
	}
	dry, err := c.p.boolean("DryRun")
	if err != nil {
		return nil, err
	}
	vpc, ports, backends, err := c.serviceBackends()
	if err != nil {
		return nil, err
	}
	s, err := c.c.CreateService(c.ctx, api.CreateServiceRequest{Description: c.p.str("ServiceDescription"), VpcID: vpc, Ports: ports, Resources: backends,
		AutoAcceptEnabled: auto, ZoneAffinityEnabled: affinity, ClientToken: c.p.str("ClientToken"), DryRun: dry,
		Tags: tagsOf(c.p), ResourceGroupID: c.p.str("ResourceGroupId")})
	if err != nil {
		return nil, err
	}
	return &createServiceResponse{ServiceId: s.ServiceID, ServiceName: s.Name, ServiceDomain: s.ServiceDomain, ServiceDescription: s.Description,
		ServiceStatus: s.Status, ServiceBusinessStatus: "Normal", AutoAcceptEnabled: s.AutoAcceptEnabled, ZoneAffinityEnabled: s.ZoneAffinityEnabled,
		CreateTime: s.CreateTime, ResourceGroupId: s.ResourceGroupID}, nil
}

type getServiceResponse struct {
	Base
	serviceView
	PrivateServiceDomainEnabled bool   `json:"PrivateServiceDomainEnabled"`
	ResourceGroupId             string `json:"ResourceGroupId"`
}

func getVpcEndpointServiceAttribute(c *call) (response, error) {
	id, err := c.p.required("ServiceId")
	if err != nil {
		return nil, err
	}
	s, err := c.c.GetService(c.ctx, id)
	if err != nil {
		return nil, err
	}
	return &getServiceResponse{serviceView: serviceViewOf(s), ResourceGroupId: s.ResourceGroupID}, nil
}

type listServicesResponse struct {
	Base
	NextToken  string          `json:"NextToken"`
	MaxResults int             `json:"MaxResults"`
	TotalCount int             `json:"TotalCount"`
	Services   []listedService `json:"Services"`
}

func listVpcEndpointServices(c *call) (response, error) {
	all, err := c.c.ListServicesWhere(c.ctx, tagFilter(c.p))
	if err != nil {
		return nil, err
	}
	id, name, status := c.p.str("ServiceId"), c.p.str("ServiceName"), c.p.str("ServiceStatus")
	var keep []api.EndpointService
	for _, s := range all {
		if (id == "" || s.ServiceID == id) && (name == "" || s.Name == name) && (status == "" || s.Status == status) {
			keep = append(keep, s)
		}
	}
	page, next, max, err := tokenPage(c.p, keep, func(s api.EndpointService) string { return s.ServiceID })
	if err != nil {
		return nil, err
	}
	out := &listServicesResponse{NextToken: next, MaxResults: max, TotalCount: len(keep), Services: []listedService{}}
	for _, s := range page {
		out.Services = append(out.Services, listedServiceOf(s))
	}
	return out, nil
}

type listServicesByEndUserResponse struct {
	Base
	NextToken  string          `json:"NextToken"`
	MaxResults int             `json:"MaxResults"`
	TotalCount string          `json:"TotalCount"`
	Services   []listedService `json:"Services"`
}

func listVpcEndpointServicesByEndUser(c *call) (response, error) {
	if err := noTagsOrGroups(c.p); err != nil {
		return nil, err
	}
	if err := c.p.unsupported("ServiceType", "privlink services are Interface services", "Interface"); err != nil {
		return nil, err
	}
	all, err := c.c.SearchServices(c.ctx, c.p.str("ServiceName"))
	if err != nil {
		return nil, err
	}
	id, name := c.p.str("ServiceId"), c.p.str("ServiceName")
	var keep []api.EndpointService
	for _, s := range all {
		if (id == "" || s.ServiceID == id) && (name == "" || s.Name == name) {
			keep = append(keep, s)
		}
	}
	page, next, max, err := tokenPage(c.p, keep, func(s api.EndpointService) string { return s.ServiceID })
	if err != nil {
		return nil, err
	}
	out := &listServicesByEndUserResponse{NextToken: next, MaxResults: max, TotalCount: strconv.Itoa(len(keep)), Services: []listedService{}}
	for _, s := range page {
		out.Services = append(out.Services, listedServiceOf(s))
	}
	return out, nil
}

func updateVpcEndpointServiceAttribute(c *call) (response, error) {
	id, err := c.p.required("ServiceId")
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"ServiceSupportIPv6", "PrivateServiceDomainEnabled"} {
		if err := c.p.unsupported(k, "not supported yet", "false"); err != nil {
			return nil, err
		}
	}
	var req api.UpdateServiceRequest
	if req.AutoAcceptEnabled, err = c.p.optBool("AutoAcceptEnabled"); err != nil {
		return nil, err
	}
	if req.ZoneAffinityEnabled, err = c.p.optBool("ZoneAffinityEnabled"); err != nil {
		return nil, err
	}
	if d, ok := c.p["ServiceDescription"]; ok {
		req.Description = &d
	}
	if c.p.str("ConnectBandwidth") != "" {
		b, err := c.p.integer("ConnectBandwidth", 0, 0, 10240)
		if err != nil {
			return nil, err
		}
		req.ConnectBandwidth = &b
	}
	dry, err := c.p.boolean("DryRun")
	if err != nil {
		return nil, err
	}
	if dry {
		return dryRunChecked(c.c.GetService(c.ctx, id))
	}
	if _, err := c.c.UpdateService(c.ctx, id, req); err != nil {
		return nil, err
	}
	return &Base{}, nil
}

// dryRunChecked answers a dry run of a change whose only check privlink
// makes before it is that the resource exists (and is the caller's).
func dryRunChecked[T any](_ T, err error) (response, error) {
	if err != nil {
		return nil, err
	}
	return nil, &api.DryRunResult{Code: api.DryRunCode}
}

var userARN = regexp.MustCompile(`^acs:ram::(\d{16}):(root|\*)$`)

// userAccount is the account named by UserId or UserARN (acs:ram::ID:root).
func (c *call) userAccount() (string, error) {
	if id := c.p.str("UserId"); id != "" {
		if !model.ValidAccountID(id) {
			return "", model.Invalid("UserId", "UserId %q is not a 16-digit account ID", id)
		}
		return id, nil
	}
	if arn := c.p.str("UserARN"); arn != "" {
		m := userARN.FindStringSubmatch(arn)
		if m == nil {
			return "", model.Errorf(http.StatusBadRequest, "OperationUnsupported", "UserARN %q: privlink allow-lists whole accounts (acs:ram::<accountId>:root)", arn)
		}
		return m[1], nil
	}
	return "", model.Errorf(http.StatusBadRequest, "MissingParameter", "UserId or UserARN is required")
}

func addUserToVpcEndpointService(c *call) (response, error) {
	id, err := c.p.required("ServiceId")
	if err != nil {
		return nil, err
	}
	acct, err := c.userAccount()
	if err != nil {
		return nil, err
	}
	if dry, err := c.p.boolean("DryRun"); err != nil || dry {
		if err != nil {
			return nil, err
		}
		return dryRunChecked(c.c.GetService(c.ctx, id))
	}
	if _, err := c.c.AllowAccount(c.ctx, id, acct); err != nil {
		return nil, err
	}
	return &Base{}, nil
}

func removeUserFromVpcEndpointService(c *call) (response, error) {
	id, err := c.p.required("ServiceId")
	if err != nil {
		return nil, err
	}
	acct, err := c.userAccount()
	if err != nil {
		return nil, err
	}
	if dry, err := c.p.boolean("DryRun"); err != nil || dry {
		if err != nil {
			return nil, err
		}
		return dryRunChecked(c.c.GetService(c.ctx, id))
	}
	if _, err := c.c.DisallowAccount(c.ctx, id, acct); err != nil {
		return nil, err
	}
	return &Base{}, nil
}

type userView struct {
	UserId int64 `json:"UserId"`
}

type userARNView struct {
	UserARN string `json:"UserARN"`
}

type listUsersResponse struct {
	Base
	NextToken  string        `json:"NextToken"`
	MaxResults int           `json:"MaxResults"`
	TotalCount string        `json:"TotalCount"`
	Users      []userView    `json:"Users"`
	UserARNs   []userARNView `json:"UserARNs"`
}

func listVpcEndpointServiceUsers(c *call) (response, error) {
	id, err := c.p.required("ServiceId")
	if err != nil {
		return nil, err
	}
	s, err := c.c.GetService(c.ctx, id)
	if err != nil {
		return nil, err
	}
	users := append([]string(nil), s.AllowedAccounts...)
	if u := c.p.str("UserId"); u != "" {
		users = slicesFilter(users, func(a string) bool { return a == u })
	}
	page, next, max, err := tokenPage(c.p, users, func(a string) string { return a })
	if err != nil {
		return nil, err
	}
	out := &listUsersResponse{NextToken: next, MaxResults: max, TotalCount: strconv.Itoa(len(users)), Users: []userView{}, UserARNs: []userARNView{}}
	for _, a := range page {
		if c.p.str("UserListType") == "UserARNs" {
			out.UserARNs = append(out.UserARNs, userARNView{UserARN: "acs:ram::" + a + ":root"})
		} else {
			out.Users = append(out.Users, userView{UserId: ownerID(a)})
		}
	}
	return out, nil
}

func slicesFilter[T any](in []T, keep func(T) bool) []T {
	var out []T
	for _, v := range in {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

type resourceView struct {
	ResourceId   string `json:"ResourceId"`
	ResourceType string `json:"ResourceType"`
	ZoneId       string `json:"ZoneId"`
	Ip           string `json:"Ip"`
	VpcId        string `json:"VpcId"`
	VSwitchId    string `json:"VSwitchId"`
	RegionId     string `json:"RegionId"`
	StatusInfo   string `json:"StatusInfo"`
}

type listResourcesResponse struct {
	Base
	NextToken  string         `json:"NextToken"`
	MaxResults int            `json:"MaxResults"`
	Resources  []resourceView `json:"Resources"`
}

// listVpcEndpointServiceResources shows a service's backends as its
// resources (ResourceType backend, ResourceId IP:PORT).
func listVpcEndpointServiceResources(c *call) (response, error) {
	id, err := c.p.required("ServiceId")
	if err != nil {
		return nil, err
	}
	s, err := c.c.GetService(c.ctx, id)
	if err != nil {
		return nil, err
	}
	vsws, err := c.c.ListVSwitches(c.ctx, client.Filter{VpcID: s.VpcID})
	if err != nil {
		return nil, err
	}
	zone := c.p.str("ZoneId")
	var views []resourceView
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
		v := resourceView{ResourceId: rid, ResourceType: ResourceTypeBackend, ZoneId: b.ZoneID,
			Ip: b.IP.String(), VpcId: s.VpcID, RegionId: s.RegionID, StatusInfo: b.Health}
		for _, w := range vsws {
			if s.VpcID != "" && w.ZoneID == b.ZoneID && w.CidrBlock.Contains(b.IP) {
				v.VSwitchId = w.VSwitchID
			}
		}
		views = append(views, v)
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
