package console

import (
	"net/http"
	"strconv"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

type vpcsData struct {
	VPCs []model.VPC
	Form *form
}

func (c *Console) vpcsList(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderVPCs(w, r, s, http.StatusOK, newCreateForm())
}

func (c *Console) renderVPCs(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	vpcs, err := c.api(s).ListVPCs(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, status, "vpcs", &view{Title: "VPCs", Nav: "vpcs", S: s, D: vpcsData{VPCs: vpcs, Form: f}})
}

func (c *Console) vpcCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	req := api.CreateVPCRequest{Name: f.Get("name"), CidrBlock: f.Get("cidr"), ClientToken: f.Get("clientToken"),
		EnableIpv6: f.Checked("enableIpv6"), Ipv6CidrBlock: f.Get("ipv6Cidr")}
	if req.CidrBlock == "" {
		f.fail("cidr", "enter the VPC's IPv4 CIDR block, e.g. 192.168.0.0/16")
	}
	if f.ok() {
		if v, err := c.api(s).CreateVPC(r.Context(), req); err == nil {
			c.redirect(w, r, s, "/console/vpcs/"+esc(v.VpcID), "VPC "+v.VpcID+" created. Add a vSwitch in each zone you want to use.", false)
			return
		} else {
			f.apiFail(err, ipv6Fields(fieldMap{"VpcName": "name", "CidrBlock": "cidr"}, "ipv6Cidr"))
		}
	}
	c.renderVPCs(w, r, s, http.StatusBadRequest, f)
}

type vpcData struct {
	VPC       model.VPC
	VSwitches []model.VSwitch
	SGs       []model.SecurityGroup
	Zones     []string
	Form      *form
}

func (c *Console) vpcShow(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderVPC(w, r, s, http.StatusOK, newCreateForm())
}

func (c *Console) renderVPC(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	cl, ctx := c.api(s), r.Context()
	d := vpcData{Form: f}
	var err error
	if d.VPC, err = cl.GetVPC(ctx, r.PathValue("id")); err != nil {
		c.fail(w, r, s, err)
		return
	}
	in := client.Filter{VpcID: d.VPC.VpcID}
	if d.VSwitches, err = cl.ListVSwitches(ctx, in); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.SGs, err = cl.ListSecurityGroups(ctx, in); err != nil {
		c.fail(w, r, s, err)
		return
	}
	region, err := cl.DescribeRegion(ctx)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Zones = region.ZoneIDs()
	c.render(w, r, status, "vpc", &view{Title: "VPC " + d.VPC.VpcID, Nav: "vpcs", S: s, D: d})
}

func (c *Console) vswitchCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	vpc := r.PathValue("id")
	req := api.CreateVSwitchRequest{VpcID: vpc, ZoneID: f.Get("zoneId"), CidrBlock: f.Get("cidr"), Name: f.Get("name"), ClientToken: f.Get("clientToken")}
	if req.CidrBlock == "" {
		f.fail("cidr", "enter a CIDR block inside the VPC's, e.g. 192.168.1.0/24")
	}
	vswitchIPv6Form(f, &req)
	if f.ok() {
		if v, err := c.api(s).CreateVSwitch(r.Context(), req); err == nil {
			c.redirect(w, r, s, "/console/vpcs/"+esc(vpc)+"#vswitches", "vSwitch "+v.VSwitchID+" created in "+v.ZoneID+".", false)
			return
		} else {
			f.apiFail(err, ipv6Fields(fieldMap{"VSwitchName": "name", "CidrBlock": "cidr", "ZoneId": "zoneId", "InvalidZoneId.NotFound": "zoneId",
				"QuotaExceeded.VSwitch": "cidr"}, "ipv6Index"))
		}
	}
	c.renderVPC(w, r, s, http.StatusBadRequest, f)
}

type sgsData struct {
	SGs     []model.SecurityGroup
	VPCs    []model.VPC
	VPCName map[string]string
	Form    *form
}

func (c *Console) sgList(w http.ResponseWriter, r *http.Request, s *session) {
	f := newCreateForm()
	f.Values.Set("vpcId", r.URL.Query().Get("vpcId"))
	c.renderSGs(w, r, s, http.StatusOK, f)
}

func (c *Console) renderSGs(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	cl, ctx := c.api(s), r.Context()
	d := sgsData{Form: f, VPCName: map[string]string{}}
	var err error
	if d.SGs, err = cl.ListSecurityGroups(ctx, client.Filter{}); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.VPCs, err = cl.ListVPCs(ctx); err != nil {
		c.fail(w, r, s, err)
		return
	}
	for _, v := range d.VPCs {
		d.VPCName[v.VpcID] = v.Name
	}
	c.render(w, r, status, "security_groups", &view{Title: "Security groups", Nav: "sgs", S: s, D: d})
}

func (c *Console) sgCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	req := api.CreateSecurityGroupRequest{VpcID: f.Get("vpcId"), Name: f.Get("name"), ClientToken: f.Get("clientToken")}
	if req.VpcID == "" {
		f.fail("vpcId", "choose the VPC the security group belongs to")
	}
	if f.ok() {
		if g, err := c.api(s).CreateSecurityGroup(r.Context(), req); err == nil {
			c.redirect(w, r, s, "/console/security-groups/"+esc(g.SecurityGroupID),
				"Security group "+g.SecurityGroupID+" created. It drops everything until you add an accept rule.", false)
			return
		} else {
			f.apiFail(err, fieldMap{"SecurityGroupName": "name", "VpcNotFound": "vpcId", "VpcId": "vpcId"})
		}
	}
	c.renderSGs(w, r, s, http.StatusBadRequest, f)
}

type sgData struct {
	SG   model.SecurityGroup
	VPC  model.VPC
	Form *form
}

func (c *Console) sgShow(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(nil)
	f.Values.Set("protocol", "tcp")
	f.Values.Set("policy", "accept")
	f.Values.Set("priority", "1")
	c.renderSG(w, r, s, http.StatusOK, f)
}

func (c *Console) renderSG(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	cl := c.api(s)
	d := sgData{Form: f}
	var err error
	if d.SG, err = cl.GetSecurityGroup(r.Context(), r.PathValue("id")); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if f.Get("source") == "" && f.ok() {
		if d.VPC, err = cl.GetVPC(r.Context(), d.SG.VpcID); err == nil {
			f.Values.Set("source", d.VPC.CidrBlock.String())
		}
	}
	c.render(w, r, status, "security_group", &view{Title: "Security group " + d.SG.SecurityGroupID, Nav: "sgs", S: s, D: d})
}

var ruleFields = fieldMap{"IpProtocol": "protocol", "PortRange": "port", "SourceCidrIp": "source", "Policy": "policy",
	"Priority": "priority", "Rules": "port", "QuotaExceeded.SecurityGroupRule": "port"}

func ruleFromForm(f *form) model.SecurityGroupRule {
	rule := model.SecurityGroupRule{Protocol: f.Get("protocol"), PortRange: f.Get("port"), SourceCidr: f.Get("source"), Policy: f.Get("policy")}
	if p := f.Get("priority"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			f.fail("priority", "priority must be a number from 1 (highest) to 100")
		}
		rule.Priority = n
	}
	if rule.PortRange == "" && rule.Protocol != "all" {
		f.fail("port", "enter a port (6001) or a range (6001/6010)")
	}
	return rule
}

func (c *Console) sgAuthorize(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	id := r.PathValue("id")
	rule := ruleFromForm(f)
	if f.ok() {
		_, err := c.api(s).AuthorizeSecurityGroup(r.Context(), id, api.RulesRequest{Rules: []model.SecurityGroupRule{rule}})
		if err == nil {
			c.redirect(w, r, s, "/console/security-groups/"+esc(id)+"#rules", "Rule added.", false)
			return
		}
		f.apiFail(err, ruleFields)
	}
	c.renderSG(w, r, s, http.StatusBadRequest, f)
}

func (c *Console) sgRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	id := r.PathValue("id")
	rule := ruleFromForm(f)
	back := "/console/security-groups/" + esc(id) + "#rules"
	if !f.ok() {
		c.redirect(w, r, s, back, "That rule could not be read; nothing was removed.", true)
		return
	}
	if _, err := c.api(s).RevokeSecurityGroup(r.Context(), id, api.RulesRequest{Rules: []model.SecurityGroupRule{rule}}); err != nil {
		c.redirect(w, r, s, back, errText(err), true)
		return
	}
	c.redirect(w, r, s, back, "Rule removed.", false)
}
