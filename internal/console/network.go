package console

import (
	"net/http"
	"strconv"

	"github.com/privlink/privlink/internal/apiserver"
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
	vpcs, err := listAll[model.VPC](c.api(r, s), "/v1/vpcs")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, status, "vpcs", &view{Title: "VPCs", Nav: "vpcs", S: s, D: vpcsData{VPCs: vpcs, Form: f}})
}

func (c *Console) vpcCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	req := apiserver.CreateVPCRequest{Name: f.Get("name"), CidrBlock: f.Get("cidr"), ClientToken: f.Get("clientToken")}
	if req.CidrBlock == "" {
		f.fail("cidr", "enter the VPC's IPv4 CIDR block, e.g. 192.168.0.0/16")
	}
	if f.ok() {
		var v model.VPC
		if err := c.api(r, s).post("/v1/vpcs", req, &v); err == nil {
			c.redirect(w, r, s, "/console/vpcs/"+esc(v.VpcID), "VPC "+v.VpcID+" created. Add a vSwitch in each zone you want to use.", false)
			return
		} else {
			f.apiFail(err, fieldMap{"VpcName": "name", "CidrBlock": "cidr"})
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
	api := c.api(r, s)
	d := vpcData{Form: f}
	if err := api.get("/v1/vpcs/"+esc(r.PathValue("id")), &d.VPC); err != nil {
		c.fail(w, r, s, err)
		return
	}
	var err error
	q := "?vpcId=" + urlQueryEscape(d.VPC.VpcID)
	if d.VSwitches, err = listAll[model.VSwitch](api, "/v1/vswitches"+q); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.SGs, err = listAll[model.SecurityGroup](api, "/v1/security-groups"+q); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.Zones, err = c.zones(api); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, status, "vpc", &view{Title: "VPC " + d.VPC.VpcID, Nav: "vpcs", S: s, D: d})
}

func (c *Console) zones(api caller) ([]string, error) {
	var region apiserver.Region
	if err := api.get("/v1/region", &region); err != nil {
		return nil, err
	}
	var out []string
	for _, z := range region.Zones {
		out = append(out, z.ZoneID)
	}
	return out, nil
}

func (c *Console) vswitchCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	vpc := r.PathValue("id")
	req := apiserver.CreateVSwitchRequest{VpcID: vpc, ZoneID: f.Get("zoneId"), CidrBlock: f.Get("cidr"), Name: f.Get("name"), ClientToken: f.Get("clientToken")}
	if req.CidrBlock == "" {
		f.fail("cidr", "enter a CIDR block inside the VPC's, e.g. 192.168.1.0/24")
	}
	if f.ok() {
		var v model.VSwitch
		if err := c.api(r, s).post("/v1/vswitches", req, &v); err == nil {
			c.redirect(w, r, s, "/console/vpcs/"+esc(vpc)+"#vswitches", "vSwitch "+v.VSwitchID+" created in "+v.ZoneID+".", false)
			return
		} else {
			f.apiFail(err, fieldMap{"VSwitchName": "name", "CidrBlock": "cidr", "ZoneId": "zoneId", "InvalidZoneId.NotFound": "zoneId",
				"QuotaExceeded.VSwitchesPerVpc": "cidr"})
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
	api := c.api(r, s)
	d := sgsData{Form: f, VPCName: map[string]string{}}
	var err error
	if d.SGs, err = listAll[model.SecurityGroup](api, "/v1/security-groups"); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.VPCs, err = listAll[model.VPC](api, "/v1/vpcs"); err != nil {
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
	req := apiserver.CreateSecurityGroupRequest{VpcID: f.Get("vpcId"), Name: f.Get("name"), ClientToken: f.Get("clientToken")}
	if req.VpcID == "" {
		f.fail("vpcId", "choose the VPC the security group belongs to")
	}
	if f.ok() {
		var g model.SecurityGroup
		if err := c.api(r, s).post("/v1/security-groups", req, &g); err == nil {
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
	api := c.api(r, s)
	d := sgData{Form: f}
	if err := api.get("/v1/security-groups/"+esc(r.PathValue("id")), &d.SG); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if f.Get("source") == "" && f.ok() {
		if err := api.get("/v1/vpcs/"+esc(d.SG.VpcID), &d.VPC); err == nil {
			f.Values.Set("source", d.VPC.CidrBlock.String())
		}
	}
	c.render(w, r, status, "security_group", &view{Title: "Security group " + d.SG.SecurityGroupID, Nav: "sgs", S: s, D: d})
}

var ruleFields = fieldMap{"IpProtocol": "protocol", "PortRange": "port", "SourceCidrIp": "source", "Policy": "policy",
	"Priority": "priority", "Rules": "port", "QuotaExceeded.RulesPerGroup": "port"}

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
		err := c.api(r, s).post("/v1/security-groups/"+esc(id)+"/authorize", apiserver.RulesRequest{Rules: []model.SecurityGroupRule{rule}}, nil)
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
	if err := c.api(r, s).post("/v1/security-groups/"+esc(id)+"/revoke", apiserver.RulesRequest{Rules: []model.SecurityGroupRule{rule}}, nil); err != nil {
		c.redirect(w, r, s, back, errText(err), true)
		return
	}
	c.redirect(w, r, s, back, "Rule removed.", false)
}
