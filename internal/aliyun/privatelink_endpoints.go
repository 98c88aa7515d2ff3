package aliyun

import (
	"cmp"
	"net/http"
	"strconv"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
)

// Connections (provider side) and endpoints (consumer side).

// zoneView is the SDK's privatelink.Zone.
type zoneView struct {
	ZoneId        string `json:"ZoneId"`
	VSwitchId     string `json:"VSwitchId"`
	EniId         string `json:"EniId"`
	EniIp         string `json:"EniIp"`
	ZoneDomain    string `json:"ZoneDomain"`
	ZoneStatus    string `json:"ZoneStatus"`
	RegionId      string `json:"RegionId"`
	ServiceStatus string `json:"ServiceStatus"`
	// ResourceId is the service resource the provider pinned the zone to.
	ResourceId string `json:"ResourceId"`
	// ZoneIpv6Address is the zone's IPv6 ENI address ("" for none).
	ZoneIpv6Address string `json:"ZoneIpv6Address"`
}

func zoneViews(region string, zs []api.EndpointZone) []zoneView {
	out := []zoneView{}
	for _, z := range zs {
		out = append(out, zoneView{ZoneId: z.ZoneID, VSwitchId: z.VSwitchID, EniId: z.EniID, EniIp: z.IP.String(), ZoneDomain: z.ZoneDomain,
			ZoneStatus: z.ZoneStatus, RegionId: region, ResourceId: z.ResourceID, ZoneIpv6Address: addrOrEmpty(z.Ipv6Address)})
	}
	return out
}

type connectionView struct {
	EndpointId       string     `json:"EndpointId"`
	EndpointOwnerId  int64      `json:"EndpointOwnerId"`
	EndpointVpcId    string     `json:"EndpointVpcId"`
	ServiceId        string     `json:"ServiceId"`
	ConnectionStatus string     `json:"ConnectionStatus"`
	Bandwidth        int        `json:"Bandwidth"`
	ModifiedTime     string     `json:"ModifiedTime"`
	ResourceOwner    bool       `json:"ResourceOwner"`
	Zones            []zoneView `json:"Zones"`
}

type listConnectionsResponse struct {
	Base
	NextToken   string           `json:"NextToken"`
	MaxResults  int              `json:"MaxResults"`
	TotalCount  string           `json:"TotalCount"`
	Connections []connectionView `json:"Connections"`
}

func listVpcEndpointConnections(c *call) (response, error) {
	s, err := c.service()
	if err != nil {
		return nil, err
	}
	all, err := c.c.ListConnections(c.ctx, s.ServiceID)
	if err != nil {
		return nil, err
	}
	ep, owner, status, zone := c.p.str("EndpointId"), c.p.str("EndpointOwnerId"), c.p.str("ConnectionStatus"), c.p.str("ZoneId")
	var keep []api.Connection
	for _, cn := range all {
		inZone := zone == ""
		for _, z := range cn.Zones {
			inZone = inZone || z.ZoneID == zone
		}
		if (ep == "" || cn.EndpointID == ep) && (owner == "" || cn.EndpointOwnerID == owner) && (status == "" || cn.ConnectionStatus == status) && inZone {
			keep = append(keep, cn)
		}
	}
	page, next, max, err := tokenPage(c.p, keep, func(cn api.Connection) string { return cn.EndpointID })
	if err != nil {
		return nil, err
	}
	out := &listConnectionsResponse{NextToken: next, MaxResults: max, TotalCount: strconv.Itoa(len(keep)), Connections: []connectionView{}}
	for _, cn := range page {
		out.Connections = append(out.Connections, connectionView{EndpointId: cn.EndpointID, EndpointOwnerId: ownerID(cn.EndpointOwnerID),
			EndpointVpcId: cn.VpcID, ServiceId: cn.ServiceID, ConnectionStatus: cn.ConnectionStatus, Bandwidth: cmp.Or(cn.Bandwidth, s.ConnectBandwidth),
			ModifiedTime: cn.CreateTime, ResourceOwner: cn.EndpointOwnerID == c.id.AccountID, Zones: zoneViews(c.h.cfg.Region, cn.Zones)})
	}
	return out, nil
}

// connectionChange accepts or rejects one connection.
func connectionChange(accept bool) action {
	return func(c *call) (response, error) {
		svc, ep, err := c.connectionIDs()
		if err != nil {
			return nil, err
		}
		bw, err := c.bandwidth()
		if err != nil {
			return nil, err
		}
		if done, err := dryRun(c, c.c.GetService, svc); done {
			return nil, err
		}
		if bw != nil { // before an accept, so traffic starts capped
			if _, err := c.c.UpdateConnection(c.ctx, svc, ep, api.UpdateConnectionRequest{Bandwidth: bw}); err != nil {
				return nil, err
			}
		}
		if accept {
			_, err = c.c.AcceptConnection(c.ctx, svc, ep)
		} else {
			_, err = c.c.RejectConnection(c.ctx, svc, ep)
		}
		if err != nil {
			return nil, err
		}
		return &Base{}, nil
	}
}

// connectionIDs reads a connection action's ServiceId and EndpointId.
func (c *call) connectionIDs() (svc, ep string, err error) {
	if svc, err = c.p.required("ServiceId"); err != nil {
		return "", "", err
	}
	ep, err = c.p.required("EndpointId")
	return svc, ep, err
}

// bandwidth reads the optional Bandwidth of a connection (Mbps).
func (c *call) bandwidth() (*int, error) {
	if c.p.str("Bandwidth") == "" {
		return nil, nil
	}
	b, err := c.p.integer("Bandwidth", 0, 0, api.MaxBandwidthMbps)
	return &b, err
}

// zoneConnectionChange disables or enables one zone of a connection.
func zoneConnectionChange(disable bool) action {
	return func(c *call) (response, error) {
		svc, ep, err := c.connectionIDs()
		if err != nil {
			return nil, err
		}
		zone, err := c.p.required("ZoneId")
		if err != nil {
			return nil, err
		}
		if done, err := dryRun(c, c.c.GetService, svc); done {
			return nil, err
		}
		if _, err := c.c.SetZoneConnection(c.ctx, svc, ep, zone, disable); err != nil {
			return nil, err
		}
		return &Base{}, nil
	}
}

// zoneResourceChange pins one zone of a connection to one of the
// service's resources in that zone (provider). ResourceAllocateMode and
// ResourceReplaceMode are accepted and have no effect: live connections
// stay on their backend, new ones go to the pinned resource.
func zoneResourceChange(c *call) (response, error) {
	var ids [4]string
	for i, k := range []string{"ServiceId", "EndpointId", "ZoneId", "ResourceId"} {
		v, err := c.p.required(k)
		if err != nil {
			return nil, err
		}
		ids[i] = v
	}
	switch t := c.p.str("ResourceType"); t {
	case "", ResourceTypeNLB, ResourceTypeBackend:
	default:
		return nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "ResourceType %q is not supported: privlink's service resources are load balancers (nlb) and backends (backend)", t)
	}
	if dry, err := c.p.boolean("DryRun"); err != nil || dry {
		if err != nil {
			return nil, err
		}
		return dryRunChecked(c.c.GetService(c.ctx, ids[0]))
	}
	if _, err := c.c.PinZoneResource(c.ctx, ids[0], ids[1], ids[2], ids[3]); err != nil {
		return nil, err
	}
	return &Base{}, nil
}

// updateConnectionAttribute sets one connection's bandwidth (provider).
func updateConnectionAttribute(c *call) (response, error) {
	svc, ep, err := c.connectionIDs()
	if err != nil {
		return nil, err
	}
	bw, err := c.bandwidth()
	if err != nil {
		return nil, err
	}
	if done, err := dryRun(c, c.c.GetService, svc); done {
		return nil, err
	}
	if _, err := c.c.UpdateConnection(c.ctx, svc, ep, api.UpdateConnectionRequest{Bandwidth: bw}); err != nil {
		return nil, err
	}
	return &Base{}, nil
}

// endpointView has the fields of the SDK's privatelink.Endpoint and of
// the Create/GetVpcEndpoint answers that privlink has.
type endpointView struct {
	EndpointId             string `json:"EndpointId"`
	EndpointName           string `json:"EndpointName"`
	EndpointDescription    string `json:"EndpointDescription"`
	EndpointDomain         string `json:"EndpointDomain"`
	EndpointStatus         string `json:"EndpointStatus"`
	EndpointBusinessStatus string `json:"EndpointBusinessStatus"`
	ConnectionStatus       string `json:"ConnectionStatus"`
	ServiceId              string `json:"ServiceId"`
	ServiceName            string `json:"ServiceName"`
	VpcId                  string `json:"VpcId"`
	CreateTime             string `json:"CreateTime"`
}

func endpointViewOf(e api.Endpoint) endpointView {
	return endpointView{EndpointId: e.EndpointID, EndpointName: e.Name, EndpointDescription: e.Description, EndpointDomain: e.EndpointDomain, EndpointStatus: e.EndpointStatus,
		EndpointBusinessStatus: "Normal", ConnectionStatus: e.ConnectionStatus, ServiceId: e.ServiceID, ServiceName: e.ServiceName,
		VpcId: e.VpcID, CreateTime: e.CreateTime}
}

type createEndpointResponse struct {
	Base
	endpointView
	Bandwidth int64 `json:"Bandwidth"`
}

func createVpcEndpoint(c *call) (response, error) {
	if err := c.p.unsupported("EndpointType", "only Interface endpoints are supported", "Interface"); err != nil {
		return nil, err
	}
	if err := c.p.unsupported("ZonePrivateIpAddressCount", "an endpoint has one IP per zone", "1"); err != nil {
		return nil, err
	}
	if err := c.p.unsupported("ProtectedEnabled", "managed-service protection is not supported", "false"); err != nil {
		return nil, err
	}
	req := api.CreateEndpointRequest{ServiceID: c.p.str("ServiceId"), ServiceName: c.p.str("ServiceName"), Name: c.p.str("EndpointName"),
		Description: c.p.str("EndpointDescription"),
		ClientToken: c.p.str("ClientToken"), SecurityGroupIDs: c.p.list("SecurityGroupId"), Zones: []api.EndpointZoneRequest{},
		Tags: tagsOf(c.p), ResourceGroupID: c.p.str("ResourceGroupId")}
	var err error
	if req.VpcID, err = c.p.required("VpcId"); err != nil {
		return nil, err
	}
	if req.ServiceID == "" && req.ServiceName == "" {
		return nil, model.Errorf(http.StatusBadRequest, "MissingParameter", "ServiceId or ServiceName is required")
	}
	for _, z := range c.p.structs("Zone") {
		req.Zones = append(req.Zones, api.EndpointZoneRequest{ZoneID: z["zoneid"], VSwitchID: z["vswitchid"], IP: z["ip"], Ipv6Address: z["ipv6address"]})
	}
	if err := c.endpointIPVersion(); err != nil {
		return nil, err
	}
	if req.DryRun, err = c.p.boolean("DryRun"); err != nil {
		return nil, err
	}
	// Checked here too: the JSON hop to the server would turn bytes that
	// are not UTF-8 into U+FFFD instead of rejecting them.
	if err := req.Validate(); err != nil {
		return nil, err
	}
	e, err := c.c.CreateEndpoint(c.ctx, req)
	if err != nil {
		return nil, err
	}
	return &createEndpointResponse{endpointView: endpointViewOf(e)}, nil
}

type getEndpointResponse struct {
	Base
	endpointView
	Payer                     string `json:"Payer"`
	ResourceOwner             bool   `json:"ResourceOwner"`
	ZonePrivateIpAddressCount int64  `json:"ZonePrivateIpAddressCount"`
	EndpointType              string `json:"EndpointType"`
	Bandwidth                 int    `json:"Bandwidth"`
	RegionId                  string `json:"RegionId"`
	ZoneAffinityEnabled       bool   `json:"ZoneAffinityEnabled"`
	ResourceGroupId           string `json:"ResourceGroupId"`
}

func getVpcEndpointAttribute(c *call) (response, error) {
	e, err := c.endpoint()
	if err != nil {
		return nil, err
	}
	return &getEndpointResponse{endpointView: endpointViewOf(e), Payer: "Endpoint", ResourceOwner: true, ZonePrivateIpAddressCount: 1,
		EndpointType: "Interface", RegionId: e.RegionID, ResourceGroupId: e.ResourceGroupID}, nil
}

type listedEndpoint struct {
	endpointView
	EndpointType  string `json:"EndpointType"`
	RegionId      string `json:"RegionId"`
	ResourceOwner bool   `json:"ResourceOwner"`
	Bandwidth     int64  `json:"Bandwidth"`
	// ResourceGroupId and Tags: the endpoint's (SDK privatelink.Endpoint).
	ResourceGroupId string     `json:"ResourceGroupId"`
	Tags            []tagModel `json:"Tags"`
}

type listEndpointsResponse struct {
	Base
	NextToken  string           `json:"NextToken"`
	MaxResults int              `json:"MaxResults"`
	TotalCount int              `json:"TotalCount"`
	Endpoints  []listedEndpoint `json:"Endpoints"`
}

func listVpcEndpoints(c *call) (response, error) {
	f := tagFilter(c.p)
	f.VpcID = c.p.str("VpcId")
	all, err := c.c.ListEndpoints(c.ctx, f)
	if err != nil {
		return nil, err
	}
	id, name, svc, st, cs := c.p.str("EndpointId"), c.p.str("EndpointName"), c.p.str("ServiceName"), c.p.str("EndpointStatus"), c.p.str("ConnectionStatus")
	var keep []api.Endpoint
	for _, e := range all {
		if (id == "" || e.EndpointID == id) && (name == "" || e.Name == name) && (svc == "" || e.ServiceName == svc) &&
			(st == "" || e.EndpointStatus == st) && (cs == "" || e.ConnectionStatus == cs) {
			keep = append(keep, e)
		}
	}
	page, next, max, err := tokenPage(c.p, keep, func(e api.Endpoint) string { return e.EndpointID })
	if err != nil {
		return nil, err
	}
	out := &listEndpointsResponse{NextToken: next, MaxResults: max, TotalCount: len(keep), Endpoints: []listedEndpoint{}}
	for _, e := range page {
		out.Endpoints = append(out.Endpoints, listedEndpoint{endpointView: endpointViewOf(e), EndpointType: "Interface", RegionId: e.RegionID, ResourceOwner: true,
			ResourceGroupId: e.ResourceGroupID, Tags: tagModels(e.Tags)})
	}
	return out, nil
}

type listZonesResponse struct {
	Base
	NextToken  string     `json:"NextToken"`
	MaxResults int        `json:"MaxResults"`
	Zones      []zoneView `json:"Zones"`
}

func listVpcEndpointZones(c *call) (response, error) {
	e, err := c.endpoint()
	if err != nil {
		return nil, err
	}
	page, next, max, err := tokenPage(c.p, zoneViews(e.RegionID, e.Zones), func(z zoneView) string { return z.ZoneId })
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []zoneView{}
	}
	return &listZonesResponse{NextToken: next, MaxResults: max, Zones: page}, nil
}

type sgRef struct {
	SecurityGroupId string `json:"SecurityGroupId"`
}

type listEndpointSGsResponse struct {
	Base
	NextToken      string  `json:"NextToken"`
	MaxResults     int     `json:"MaxResults"`
	SecurityGroups []sgRef `json:"SecurityGroups"`
}

func listVpcEndpointSecurityGroups(c *call) (response, error) {
	e, err := c.endpoint()
	if err != nil {
		return nil, err
	}
	page, next, max, err := tokenPage(c.p, append([]string(nil), e.SecurityGroupIDs...), func(s string) string { return s })
	if err != nil {
		return nil, err
	}
	out := &listEndpointSGsResponse{NextToken: next, MaxResults: max, SecurityGroups: []sgRef{}}
	for _, s := range page {
		out.SecurityGroups = append(out.SecurityGroups, sgRef{SecurityGroupId: s})
	}
	return out, nil
}

// endpointSGChange attaches or detaches one security group of an endpoint.
func endpointSGChange(attach bool) action {
	return func(c *call) (response, error) {
		ep, err := c.p.required("EndpointId")
		if err != nil {
			return nil, err
		}
		sg, err := c.p.required("SecurityGroupId")
		if err != nil {
			return nil, err
		}
		if done, err := dryRun(c, c.c.GetEndpoint, ep); done {
			return nil, err
		}
		if attach {
			_, err = c.c.AttachSecurityGroup(c.ctx, ep, sg)
		} else {
			_, err = c.c.DetachSecurityGroup(c.ctx, ep, sg)
		}
		if err != nil {
			return nil, err
		}
		return &Base{}, nil
	}
}

// updateVpcEndpointAttribute renames an endpoint or changes its description.
func updateVpcEndpointAttribute(c *call) (response, error) {
	id, err := c.p.required("EndpointId")
	if err != nil {
		return nil, err
	}
	var req api.UpdateEndpointRequest
	if n, ok := c.p["EndpointName"]; ok {
		req.Name = &n
	}
	if d, ok := c.p["EndpointDescription"]; ok {
		req.Description = &d
	}
	if dry, err := c.p.boolean("DryRun"); err != nil || dry {
		if err != nil {
			return nil, err
		}
		if err := req.Validate(); err != nil {
			return nil, err
		}
		return dryRunChecked(c.c.GetEndpoint(c.ctx, id))
	}
	if err := req.Validate(); err != nil { // before the JSON hop (see createVpcEndpoint)
		return nil, err
	}
	if _, err := c.c.UpdateEndpoint(c.ctx, id, req); err != nil {
		return nil, err
	}
	return &Base{}, nil
}

// endpointZoneChange adds or removes one zone of an endpoint.
func endpointZoneChange(add bool) action {
	return func(c *call) (response, error) {
		ep, err := c.p.required("EndpointId")
		if err != nil {
			return nil, err
		}
		zone, err := c.p.required("ZoneId")
		if err != nil {
			return nil, err
		}
		var vsw string
		if add {
			if vsw, err = c.p.required("VSwitchId"); err != nil {
				return nil, err
			}
		}
		if done, err := dryRun(c, c.c.GetEndpoint, ep); done {
			return nil, err
		}
		if add {
			ip := c.p.str("ip")
			if ip == "" {
				ip = c.p.str("Ip")
			}
			_, err = c.c.AddEndpointZone(c.ctx, ep, api.EndpointZoneRequest{ZoneID: zone, VSwitchID: vsw, IP: ip, Ipv6Address: c.p.str("Ipv6Address")})
		} else {
			_, err = c.c.RemoveEndpointZone(c.ctx, ep, zone)
		}
		if err != nil {
			return nil, err
		}
		return &Base{}, nil
	}
}
