package aliyun

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

// The VPC API (2016-04-28) subset a consumer needs. A privlink VPC has one
// router and one route table, named after it (vrt-/vtb- + the VPC's ID).

func vpcActions() map[string]action {
	return map[string]action{
		"CreateVpc":                 createVpc,
		"DeleteVpc":                 deleteVpc,
		"DescribeVpcs":              describeVpcs,
		"DescribeVpcAttribute":      describeVpcAttribute,
		"ModifyVpcAttribute":        modifyVpcAttribute,
		"CreateVSwitch":             createVSwitch,
		"DeleteVSwitch":             deleteBy("VSwitchId", (*client.Client).GetVSwitch, (*client.Client).DeleteVSwitch),
		"DescribeVSwitches":         describeVSwitches,
		"DescribeVSwitchAttributes": describeVSwitchAttributes,
		"DescribeRouteTableList":    describeRouteTableList,
		"TagResources":              tagResources(vpcTagTypes),
		"UnTagResources":            untagResources(vpcTagTypes),
		"ListTagResources":          listTagResources(vpcTagTypes, true),
	}
}

func vRouterID(vpcID string) string    { return "vrt-" + strings.TrimPrefix(vpcID, "vpc-") }
func routeTableID(vpcID string) string { return "vtb-" + strings.TrimPrefix(vpcID, "vpc-") }

type vSwitchIDs struct {
	VSwitchId []string `json:"VSwitchId"`
}

type routerTableIDs struct {
	RouterTableIds []string `json:"RouterTableIds"`
}

// vpcView is the SDK's vpc.Vpc, the fields privlink has.
type vpcView struct {
	VpcId          string         `json:"VpcId"`
	VpcName        string         `json:"VpcName"`
	CidrBlock      string         `json:"CidrBlock"`
	Status         string         `json:"Status"`
	CreationTime   string         `json:"CreationTime"`
	RegionId       string         `json:"RegionId"`
	OwnerId        int64          `json:"OwnerId"`
	IsDefault      bool           `json:"IsDefault"`
	VRouterId      string         `json:"VRouterId"`
	Description    string         `json:"Description"`
	VSwitchIds     vSwitchIDs     `json:"VSwitchIds"`
	RouterTableIds routerTableIDs `json:"RouterTableIds"`
	Ipv6CidrBlock  string         `json:"Ipv6CidrBlock"`
	EnabledIpv6    bool           `json:"EnabledIpv6"`
}

func (c *call) vpcView(v api.VPC, vsws []api.VSwitch) vpcView {
	ids := []string{}
	for _, s := range vsws {
		if s.VpcID == v.VpcID {
			ids = append(ids, s.VSwitchID)
		}
	}
	return vpcView{VpcId: v.VpcID, VpcName: v.Name, Description: v.Description, CidrBlock: v.CidrBlock.String(), Status: v.Status, CreationTime: v.CreateTime,
		RegionId: c.h.cfg.Region, OwnerId: ownerID(v.AccountID), VRouterId: vRouterID(v.VpcID),
		VSwitchIds: vSwitchIDs{ids}, RouterTableIds: routerTableIDs{[]string{routeTableID(v.VpcID)}},
		Ipv6CidrBlock: prefixOrEmpty(v.Ipv6CidrBlock), EnabledIpv6: v.Ipv6CidrBlock.IsValid()}
}

type createVpcResponse struct {
	Base
	VpcId           string `json:"VpcId"`
	VRouterId       string `json:"VRouterId"`
	RouteTableId    string `json:"RouteTableId"`
	ResourceGroupId string `json:"ResourceGroupId"`
}

// unstorable rejects the IPv6 parameters VPC and vSwitch creates cannot
// store: an ISP (privlink's IPv6 is unique local, ULA) and a vSwitch
// /64 from a secondary VPC IPv6 block (a VPC has one).
func unstorable(p params) error {
	for _, k := range []string{"Ipv6Isp", "VpcIpv6CidrBlock"} {
		if err := p.unsupported(k, "privlink's IPv6 is one unique local (ULA) /56 per VPC"); err != nil {
			return err
		}
	}
	return nil
}

func createVpc(c *call) (response, error) {
	if err := unstorable(c.p); err != nil {
		return nil, err
	}
	cidr, err := c.p.required("CidrBlock")
	if err != nil {
		return nil, err
	}
	dry, err := c.p.boolean("DryRun")
	if err != nil {
		return nil, err
	}
	v6, err := c.p.boolean("EnableIpv6")
	if err != nil {
		return nil, err
	}
	req := api.CreateVPCRequest{Name: c.p.str("VpcName"), Description: c.p.str("Description"), CidrBlock: cidr, ClientToken: c.p.str("ClientToken"), DryRun: dry,
		Tags: tagsOf(c.p), ResourceGroupID: c.p.str("ResourceGroupId"), EnableIpv6: v6, Ipv6CidrBlock: c.p.str("Ipv6CidrBlock")}
	if err := req.Validate(); err != nil { // before the JSON hop (see createVpcEndpoint)
		return nil, err
	}
	v, err := c.c.CreateVPC(c.ctx, req)
	if err != nil {
		return nil, err
	}
	return &createVpcResponse{VpcId: v.VpcID, VRouterId: vRouterID(v.VpcID), RouteTableId: routeTableID(v.VpcID), ResourceGroupId: v.ResourceGroupID}, nil
}

func deleteVpc(c *call) (response, error) {
	if err := c.p.unsupported("ForceDelete", "delete the VPC's vSwitches, security groups and hosts first", "false"); err != nil {
		return nil, err
	}
	return deleteBy("VpcId", (*client.Client).GetVPC, (*client.Client).DeleteVPC)(c)
}

type describeVpcsResponse struct {
	Base
	PageSize   int                     `json:"PageSize"`
	PageNumber int                     `json:"PageNumber"`
	TotalCount int                     `json:"TotalCount"`
	Vpcs       struct{ Vpc []vpcView } `json:"Vpcs"`
}

func describeVpcs(c *call) (response, error) {
	vpcs, err := c.c.ListVPCsWhere(c.ctx, tagFilter(c.p))
	if err != nil {
		return nil, err
	}
	vsws, err := c.c.ListVSwitches(c.ctx, client.Filter{})
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range strings.Split(c.p.str("VpcId"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			want[id] = true
		}
	}
	name := c.p.str("VpcName")
	var keep []api.VPC
	for _, v := range vpcs {
		if (len(want) == 0 || want[v.VpcID]) && (name == "" || v.Name == name) {
			keep = append(keep, v)
		}
	}
	page, num, size, err := numberPage(c.p, keep, func(v api.VPC) string { return v.VpcID })
	if err != nil {
		return nil, err
	}
	out := &describeVpcsResponse{PageSize: size, PageNumber: num, TotalCount: len(keep)}
	out.Vpcs.Vpc = []vpcView{}
	for _, v := range page {
		out.Vpcs.Vpc = append(out.Vpcs.Vpc, c.vpcView(v, vsws))
	}
	return out, nil
}

// vpcAttributes are the fields DescribeVpcAttribute shares with a listed
// Vpc (it has no RouterTableIds).
type vpcAttributes struct {
	VpcId        string     `json:"VpcId"`
	VpcName      string     `json:"VpcName"`
	CidrBlock    string     `json:"CidrBlock"`
	Status       string     `json:"Status"`
	CreationTime string     `json:"CreationTime"`
	RegionId     string     `json:"RegionId"`
	OwnerId      int64      `json:"OwnerId"`
	IsDefault    bool       `json:"IsDefault"`
	VRouterId    string     `json:"VRouterId"`
	Description  string     `json:"Description"`
	VSwitchIds   vSwitchIDs `json:"VSwitchIds"`
	// Ipv6CidrBlock is the VPC's ULA /56 ("" for IPv4 only).
	Ipv6CidrBlock string `json:"Ipv6CidrBlock"`
	EnabledIpv6   bool   `json:"EnabledIpv6"`
}

type describeVpcAttributeResponse struct {
	Base
	vpcAttributes
}

func describeVpcAttribute(c *call) (response, error) {
	id, err := c.p.required("VpcId")
	if err != nil {
		return nil, err
	}
	v, err := c.c.GetVPC(c.ctx, id)
	if err != nil {
		return nil, err
	}
	vsws, err := c.c.ListVSwitches(c.ctx, client.Filter{VpcID: id})
	if err != nil {
		return nil, err
	}
	w := c.vpcView(v, vsws)
	return &describeVpcAttributeResponse{vpcAttributes: vpcAttributes{VpcId: w.VpcId, VpcName: w.VpcName, CidrBlock: w.CidrBlock, Status: w.Status,
		CreationTime: w.CreationTime, RegionId: w.RegionId, OwnerId: w.OwnerId, VRouterId: w.VRouterId, VSwitchIds: w.VSwitchIds, Description: w.Description,
		Ipv6CidrBlock: w.Ipv6CidrBlock, EnabledIpv6: w.EnabledIpv6}}, nil
}

type createVSwitchResponse struct {
	Base
	VSwitchId string `json:"VSwitchId"`
}

func createVSwitch(c *call) (response, error) {
	if err := unstorable(c.p); err != nil {
		return nil, err
	}
	if err := c.p.unsupported("Description", "vSwitches have no description yet; use the name"); err != nil {
		return nil, err
	}
	var req api.CreateVSwitchRequest
	var err error
	if req.VpcID, err = c.p.required("VpcId"); err != nil {
		return nil, err
	}
	if req.ZoneID, err = c.p.required("ZoneId"); err != nil {
		return nil, err
	}
	if req.CidrBlock, err = c.p.required("CidrBlock"); err != nil {
		return nil, err
	}
	req.Name, req.ClientToken = c.p.str("VSwitchName"), c.p.str("ClientToken")
	req.Tags = tagsOf(c.p)
	if c.p.str("Ipv6CidrBlock") != "" { // the /64's index in the VPC's /56
		index, err := c.p.integer("Ipv6CidrBlock", 0, 0, model.MaxVSwitchIPv6Index)
		if err != nil {
			return nil, err
		}
		req.Ipv6CidrBlock = &index
	}
	v, err := c.c.CreateVSwitch(c.ctx, req)
	if err != nil {
		return nil, err
	}
	return &createVSwitchResponse{VSwitchId: v.VSwitchID}, nil
}

type routeTableRef struct {
	RouteTableId   string `json:"RouteTableId"`
	RouteTableType string `json:"RouteTableType"`
}

// vSwitchView is the SDK's vpc.VSwitch, the fields privlink has.
type vSwitchView struct {
	VSwitchId               string        `json:"VSwitchId"`
	VpcId                   string        `json:"VpcId"`
	Status                  string        `json:"Status"`
	CidrBlock               string        `json:"CidrBlock"`
	ZoneId                  string        `json:"ZoneId"`
	VSwitchName             string        `json:"VSwitchName"`
	CreationTime            string        `json:"CreationTime"`
	IsDefault               bool          `json:"IsDefault"`
	OwnerId                 int64         `json:"OwnerId"`
	Description             string        `json:"Description"`
	AvailableIpAddressCount int64         `json:"AvailableIpAddressCount"`
	RouteTable              routeTableRef `json:"RouteTable"`
	Ipv6CidrBlock           string        `json:"Ipv6CidrBlock"`
	EnabledIpv6             bool          `json:"EnabledIpv6"`
}

// prefixOrEmpty is p as text, "" for the zero prefix (IPv4 only).
func prefixOrEmpty(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func vSwitchViewOf(v api.VSwitch) vSwitchView {
	// Usable addresses: all but network, gateway and broadcast (privlink
	// does not count its allocations here).
	avail := int64(1)<<(32-v.CidrBlock.Bits()) - 3
	return vSwitchView{VSwitchId: v.VSwitchID, VpcId: v.VpcID, Status: v.Status, CidrBlock: v.CidrBlock.String(), ZoneId: v.ZoneID,
		VSwitchName: v.Name, CreationTime: v.CreateTime, OwnerId: ownerID(v.AccountID), AvailableIpAddressCount: max(avail, 0),
		RouteTable:    routeTableRef{RouteTableId: routeTableID(v.VpcID), RouteTableType: "System"},
		Ipv6CidrBlock: prefixOrEmpty(v.Ipv6CidrBlock), EnabledIpv6: v.Ipv6CidrBlock.IsValid()}
}

type describeVSwitchesResponse struct {
	Base
	PageSize   int `json:"PageSize"`
	PageNumber int `json:"PageNumber"`
	TotalCount int `json:"TotalCount"`
	VSwitches  struct {
		VSwitch []vSwitchView `json:"VSwitch"`
	} `json:"VSwitches"`
}

func describeVSwitches(c *call) (response, error) {
	f := tagFilter(c.p)
	f.VpcID = c.p.str("VpcId")
	all, err := c.c.ListVSwitches(c.ctx, f)
	if err != nil {
		return nil, err
	}
	id, zone, name := c.p.str("VSwitchId"), c.p.str("ZoneId"), c.p.str("VSwitchName")
	var keep []api.VSwitch
	for _, v := range all {
		if (id == "" || v.VSwitchID == id) && (zone == "" || v.ZoneID == zone) && (name == "" || v.Name == name) {
			keep = append(keep, v)
		}
	}
	page, num, size, err := numberPage(c.p, keep, func(v api.VSwitch) string { return v.VSwitchID })
	if err != nil {
		return nil, err
	}
	out := &describeVSwitchesResponse{PageSize: size, PageNumber: num, TotalCount: len(keep)}
	out.VSwitches.VSwitch = []vSwitchView{}
	for _, v := range page {
		out.VSwitches.VSwitch = append(out.VSwitches.VSwitch, vSwitchViewOf(v))
	}
	return out, nil
}

type describeVSwitchAttributesResponse struct {
	Base
	vSwitchView
}

func describeVSwitchAttributes(c *call) (response, error) {
	id, err := c.p.required("VSwitchId")
	if err != nil {
		return nil, err
	}
	v, err := c.c.GetVSwitch(c.ctx, id)
	if err != nil {
		return nil, err
	}
	return &describeVSwitchAttributesResponse{vSwitchView: vSwitchViewOf(v)}, nil
}

type routeTableView struct {
	VpcId          string     `json:"VpcId"`
	RouteTableId   string     `json:"RouteTableId"`
	RouteTableName string     `json:"RouteTableName"`
	RouteTableType string     `json:"RouteTableType"`
	RouterId       string     `json:"RouterId"`
	RouterType     string     `json:"RouterType"`
	Status         string     `json:"Status"`
	CreationTime   string     `json:"CreationTime"`
	OwnerId        int64      `json:"OwnerId"`
	Description    string     `json:"Description"`
	VSwitchIds     vSwitchIDs `json:"VSwitchIds"`
}

type describeRouteTableListResponse struct {
	Base
	Success         bool   `json:"Success"`
	Code            string `json:"Code"`
	Message         string `json:"Message"`
	PageSize        int    `json:"PageSize"`
	PageNumber      int    `json:"PageNumber"`
	TotalCount      int    `json:"TotalCount"`
	RouterTableList struct {
		RouterTableListType []routeTableView `json:"RouterTableListType"`
	} `json:"RouterTableList"`
}

// describeRouteTableList lists each VPC's one (system) route table.
func describeRouteTableList(c *call) (response, error) {
	vpcs, err := c.c.ListVPCs(c.ctx)
	if err != nil {
		return nil, err
	}
	vsws, err := c.c.ListVSwitches(c.ctx, client.Filter{})
	if err != nil {
		return nil, err
	}
	vpcID, rt := c.p.str("VpcId"), c.p.str("RouteTableId")
	if t := c.p.str("RouteTableType"); t != "" && t != "System" {
		return nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "privlink VPCs have only their System route table")
	}
	var keep []api.VPC
	for _, v := range vpcs {
		if (vpcID == "" || v.VpcID == vpcID) && (rt == "" || routeTableID(v.VpcID) == rt) {
			keep = append(keep, v)
		}
	}
	page, num, size, err := numberPage(c.p, keep, func(v api.VPC) string { return v.VpcID })
	if err != nil {
		return nil, err
	}
	out := &describeRouteTableListResponse{Success: true, PageSize: size, PageNumber: num, TotalCount: len(keep)}
	out.RouterTableList.RouterTableListType = []routeTableView{}
	for _, v := range page {
		view := c.vpcView(v, vsws)
		out.RouterTableList.RouterTableListType = append(out.RouterTableList.RouterTableListType, routeTableView{
			VpcId: v.VpcID, RouteTableId: routeTableID(v.VpcID), RouteTableType: "System", RouterId: vRouterID(v.VpcID), RouterType: "VRouter",
			Status: "Available", CreationTime: v.CreateTime, OwnerId: ownerID(v.AccountID), VSwitchIds: view.VSwitchIds})
	}
	return out, nil
}
