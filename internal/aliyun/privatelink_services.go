package aliyun

import (
	"net/http"
	"regexp"
	"strconv"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
)

// Provider-side PrivateLink actions: services, their resources, users and
// connections.

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
		ServiceStatus: s.Status, ServiceBusinessStatus: "Normal", ServiceType: "Interface", ServiceResourceType: serviceResourceType(s),
		AutoAcceptEnabled: s.AutoAcceptEnabled, ZoneAffinityEnabled: s.ZoneAffinityEnabled, ConnectBandwidth: s.ConnectBandwidth,
		MaxBandwidth: 10240, MinBandwidth: 0, Payer: "Endpoint", RegionId: s.RegionID, CreateTime: s.CreateTime, Zones: zones,
		ServiceSupportIPv6: s.DualStack()}
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

func createVpcEndpointService(c *call) (response, error) {
	if err := c.p.unsupported("PrivateServiceDomainEnabled", "not supported yet", "false"); err != nil {
		return nil, err
	}
	version, err := c.addressIPVersion()
	if err != nil {
		return nil, err
	}
	if err := c.p.unsupported("ServiceResourceType", "privlink's service resources are load balancers (nlb) and backends", ResourceTypeNLB, ResourceTypeBackend); err != nil {
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
	vpc, ports, backends, lbs, err := c.serviceResources()
	if err != nil {
		return nil, err
	}
	s, err := c.c.CreateService(c.ctx, api.CreateServiceRequest{Description: c.p.str("ServiceDescription"), VpcID: vpc, Ports: ports, Resources: backends, LoadBalancerIDs: lbs,
		AutoAcceptEnabled: auto, ZoneAffinityEnabled: affinity, ClientToken: c.p.str("ClientToken"), DryRun: dry, AddressIPVersion: deref(version),
		Tags: tagsOf(c.p), ResourceGroupID: c.p.str("ResourceGroupId")})
	if err != nil {
		return nil, err
	}
	return &createServiceResponse{ServiceId: s.ServiceID, ServiceName: s.Name, ServiceDomain: s.ServiceDomain, ServiceDescription: s.Description,
		ServiceStatus: s.Status, ServiceBusinessStatus: "Normal", AutoAcceptEnabled: s.AutoAcceptEnabled, ZoneAffinityEnabled: s.ZoneAffinityEnabled,
		ServiceSupportIPv6: s.DualStack(), CreateTime: s.CreateTime, ResourceGroupId: s.ResourceGroupID}, nil
}

type getServiceResponse struct {
	Base
	serviceView
	PrivateServiceDomainEnabled bool   `json:"PrivateServiceDomainEnabled"`
	ResourceGroupId             string `json:"ResourceGroupId"`
}

func getVpcEndpointServiceAttribute(c *call) (response, error) {
	s, err := c.service()
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
	if err := c.p.unsupported("PrivateServiceDomainEnabled", "not supported yet", "false"); err != nil {
		return nil, err
	}
	var req api.UpdateServiceRequest
	if req.AddressIPVersion, err = c.addressIPVersion(); err != nil {
		return nil, err
	}
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
	if done, err := dryRun(c, c.c.GetService, id); done {
		return nil, err
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
	if done, err := dryRun(c, c.c.GetService, id); done {
		return nil, err
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
	s, err := c.service()
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
