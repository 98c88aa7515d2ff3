package aliyun

import (
	"encoding/json"
	"net/http"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

// ECS instances are privlink hosts: a network namespace on a vSwitch (no
// image, no instance type, no security group of its own).

// InstanceType is the type every privlink host reports.
const InstanceType = "privlink.host"

type runInstancesResponse struct {
	Base
	OrderId        string  `json:"OrderId"`
	TradePrice     float64 `json:"TradePrice"`
	InstanceIdSets struct {
		InstanceIdSet []string `json:"InstanceIdSet"`
	} `json:"InstanceIdSets"`
}

// runInstances creates one host. ImageId and InstanceType are accepted and
// ignored; a SecurityGroupId must exist (it does not filter the host's
// traffic: privlink groups guard endpoints).
func runInstances(c *call) (response, error) {
	if n, err := c.p.integer("Amount", 1, 1, 100); err != nil || n != 1 {
		if err != nil {
			return nil, err
		}
		return nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "Amount %d: privlink creates one instance per RunInstances call", n)
	}
	if n, err := c.p.integer("MinAmount", 1, 1, 100); err != nil || n != 1 {
		if err != nil {
			return nil, err
		}
		return nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "MinAmount %d: privlink creates one instance per RunInstances call", n)
	}
	if err := noTagsOrGroups(c.p); err != nil {
		return nil, err
	}
	vsw, err := c.p.required("VSwitchId")
	if err != nil {
		return nil, err
	}
	if sg := c.p.str("SecurityGroupId"); sg != "" {
		if _, err := c.c.GetSecurityGroup(c.ctx, sg); err != nil {
			return nil, err
		}
	}
	if z := c.p.str("ZoneId"); z != "" {
		v, err := c.c.GetVSwitch(c.ctx, vsw)
		if err != nil {
			return nil, err
		}
		if v.ZoneID != z {
			return nil, model.Invalid("ZoneId", "ZoneId %s is not the zone of vSwitch %s (%s)", z, vsw, v.ZoneID)
		}
	}
	dry, err := c.p.boolean("DryRun")
	if err != nil {
		return nil, err
	}
	req := api.CreateHostRequest{VSwitchID: vsw, IP: c.p.str("PrivateIpAddress"), Name: c.p.str("InstanceName"), ClientToken: c.p.str("ClientToken"), DryRun: dry}
	if req.Name == "" {
		req.Name = c.p.str("HostName")
	}
	h, err := c.c.CreateHost(c.ctx, req)
	if err != nil {
		return nil, err
	}
	out := &runInstancesResponse{}
	out.InstanceIdSets.InstanceIdSet = []string{h.HostID}
	return out, nil
}

type ipAddresses struct {
	IpAddress []string `json:"IpAddress"`
}

type instanceView struct {
	InstanceId    string `json:"InstanceId"`
	InstanceName  string `json:"InstanceName"`
	HostName      string `json:"HostName"`
	Status        string `json:"Status"`
	ZoneId        string `json:"ZoneId"`
	RegionId      string `json:"RegionId"`
	CreationTime  string `json:"CreationTime"`
	InstanceType  string `json:"InstanceType"`
	VpcAttributes struct {
		VpcId            string      `json:"VpcId"`
		VSwitchId        string      `json:"VSwitchId"`
		PrivateIpAddress ipAddresses `json:"PrivateIpAddress"`
	} `json:"VpcAttributes"`
}

type describeInstancesResponse struct {
	Base
	NextToken  string `json:"NextToken"`
	PageSize   int    `json:"PageSize"`
	PageNumber int    `json:"PageNumber"`
	TotalCount int    `json:"TotalCount"`
	Instances  struct {
		Instance []instanceView `json:"Instance"`
	} `json:"Instances"`
}

func describeInstances(c *call) (response, error) {
	all, err := c.c.ListHosts(c.ctx, client.Filter{VpcID: c.p.str("VpcId")})
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	if ids := c.p.str("InstanceIds"); ids != "" {
		var list []string
		if json.Unmarshal([]byte(ids), &list) != nil {
			return nil, model.Invalid("InstanceIds", "InstanceIds must be a JSON array of IDs, e.g. [\"i-xxx\"]")
		}
		for _, id := range list {
			want[id] = true
		}
	}
	vsw, zone, name := c.p.str("VSwitchId"), c.p.str("ZoneId"), c.p.str("InstanceName")
	var keep []api.Host
	for _, h := range all {
		if (len(want) == 0 || want[h.HostID]) && (vsw == "" || h.VSwitchID == vsw) && (zone == "" || h.ZoneID == zone) && (name == "" || h.Name == name) {
			keep = append(keep, h)
		}
	}
	out := &describeInstancesResponse{TotalCount: len(keep)}
	var page []api.Host
	key := func(h api.Host) string { return h.HostID }
	if c.p.str("MaxResults") != "" || c.p.str("NextToken") != "" {
		page, out.NextToken, _, err = tokenPage(c.p, keep, key)
	} else {
		page, out.PageNumber, out.PageSize, err = numberPage(c.p, keep, key)
	}
	if err != nil {
		return nil, err
	}
	out.Instances.Instance = []instanceView{}
	for _, h := range page {
		v := instanceView{InstanceId: h.HostID, InstanceName: h.Name, HostName: h.Name, Status: h.Status, ZoneId: h.ZoneID, RegionId: c.h.cfg.Region,
			CreationTime: h.CreateTime, InstanceType: InstanceType}
		v.VpcAttributes.VpcId, v.VpcAttributes.VSwitchId = h.VpcID, h.VSwitchID
		v.VpcAttributes.PrivateIpAddress.IpAddress = []string{h.IP.String()}
		out.Instances.Instance = append(out.Instances.Instance, v)
	}
	return out, nil
}
