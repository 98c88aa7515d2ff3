package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

type endpointsData struct {
	Endpoints []model.Endpoint
}

func (c *Console) endpointsList(w http.ResponseWriter, r *http.Request, s *session) {
	eps, err := c.api(s).ListEndpoints(r.Context(), client.Filter{})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "endpoints", &view{Title: "Endpoints", Nav: "endpoints", S: s, D: endpointsData{Endpoints: eps}})
}

// vswOption is one vSwitch offered for a zone.
type vswOption struct {
	VSwitch model.VSwitch
	VpcName string
}

// zoneChoice is one zone of the chosen service and the vSwitches for it.
type zoneChoice struct {
	ZoneID  string
	Field   string // form field name
	Options []vswOption
}

type endpointFormData struct {
	Searched bool
	Results  []model.EndpointService
	Svc      *model.EndpointService
	VPCs     []model.VPC
	SGs      []model.SecurityGroup
	Zones    []zoneChoice
	Form     *form
}

// zoneField is the form field holding the vSwitch chosen for zone z.
func zoneField(z string) string { return "zone." + z }

// endpointNew is the create-endpoint wizard: search a service by name,
// select it, then choose VPC, security group and one vSwitch per zone.
func (c *Console) endpointNew(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f := newCreateForm()
	for _, k := range []string{"serviceName", "service", "vpcId"} {
		f.Values.Set(k, q.Get(k))
	}
	f.Values.Set("type", "Interface")
	d, err := c.loadEndpointForm(r.Context(), c.api(s), f, q.Has("serviceName"))
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.Svc != nil {
		defaultEndpointChoices(&d)
	}
	c.render(w, r, http.StatusOK, "endpoint_new", &view{Title: "Create endpoint", Nav: "endpoints", S: s, D: d})
}

// defaultEndpointChoices picks the first VPC (unless one is given), its
// first security group (or "create new"), and, in the first two zones of
// the service, the VPC's first vSwitch there.
func defaultEndpointChoices(d *endpointFormData) {
	f := d.Form
	if f.Get("vpcId") == "" && len(d.VPCs) > 0 {
		f.Values.Set("vpcId", d.VPCs[0].VpcID)
	}
	vpc := f.Get("vpcId")
	f.Values.Set("securityGroup", "new")
	for _, g := range d.SGs {
		if g.VpcID == vpc {
			f.Values.Set("securityGroup", g.SecurityGroupID)
			break
		}
	}
	picked := 0
	for _, z := range d.Zones {
		for _, o := range z.Options {
			if picked < 2 && o.VSwitch.VpcID == vpc {
				f.Values.Set(z.Field, o.VSwitch.VSwitchID)
				picked++
				break
			}
		}
	}
}

// loadEndpointForm reads what the form offers. A service that cannot be
// found is reported on the form, not as an error page.
func (c *Console) loadEndpointForm(ctx context.Context, cl *client.Client, f *form, searched bool) (endpointFormData, error) {
	d := endpointFormData{Form: f, Searched: searched}
	var err error
	if searched {
		if d.Results, err = cl.SearchServices(ctx, f.Get("serviceName")); err != nil {
			return d, err
		}
	}
	if id := f.Get("service"); id != "" {
		if svc, err := cl.GetService(ctx, id); err != nil {
			if !client.IsNotFound(err) {
				return d, err
			}
			f.fail("service", fmt.Sprintf("No endpoint service %q allow-lists your account. Search again, or ask the provider to allow-list your account ID.", id))
		} else {
			d.Svc = &svc
		}
	}
	if d.Svc == nil {
		return d, nil
	}
	if d.VPCs, err = cl.ListVPCs(ctx); err != nil {
		return d, err
	}
	if d.SGs, err = cl.ListSecurityGroups(ctx, client.Filter{}); err != nil {
		return d, err
	}
	vsws, err := cl.ListVSwitches(ctx, client.Filter{})
	if err != nil {
		return d, err
	}
	names := map[string]string{}
	for _, v := range d.VPCs {
		names[v.VpcID] = v.Name
	}
	slices.SortStableFunc(vsws, func(a, b model.VSwitch) int {
		if a.VpcID != b.VpcID {
			return cmpStr(a.VpcID, b.VpcID)
		}
		return cmpStr(a.VSwitchID, b.VSwitchID)
	})
	for _, z := range d.Svc.Zones {
		zc := zoneChoice{ZoneID: z, Field: zoneField(z)}
		for _, v := range vsws {
			if v.ZoneID == z {
				zc.Options = append(zc.Options, vswOption{VSwitch: v, VpcName: names[v.VpcID]})
			}
		}
		d.Zones = append(d.Zones, zc)
	}
	return d, nil
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var endpointFields = fieldMap{
	"ServiceName":                         "service",
	"ServiceId":                           "service",
	"EndpointServiceNotFound":             "service",
	"OperationDenied.NotAllowListed":      "service",
	"VpcId":                               "vpcId",
	"VpcNotFound":                         "vpcId",
	"QuotaExceeded.Endpoint":              "vpcId",
	"SecurityGroupIds":                    "securityGroup",
	"SecurityGroupNotFound":               "securityGroup",
	"Zones":                               "zones",
	"VSwitchNotFound":                     "zones",
	"InvalidZoneId.NotFound":              "zones",
	"InvalidZoneId.NotSupportedByService": "zones",
	"QuotaExceeded.ZonesPerEndpoint":      "zones",
	"EndpointName":                        "name",
}

func (c *Console) endpointCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	cl := c.api(s)
	d, err := c.loadEndpointForm(r.Context(), cl, f, false)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.Svc == nil {
		f.fail("service", "Search for the endpoint service and select it first.")
		c.render(w, r, http.StatusBadRequest, "endpoint_new", &view{Title: "Create endpoint", Nav: "endpoints", S: s, D: d})
		return
	}
	if t := f.Get("type"); t != "" && t != "Interface" {
		f.fail("type", "only Interface endpoints exist")
	}
	req := api.CreateEndpointRequest{ServiceID: d.Svc.ServiceID, VpcID: f.Get("vpcId"), Name: f.Get("name"), ClientToken: f.Get("clientToken")}
	if req.VpcID == "" {
		f.fail("vpcId", "choose the VPC the endpoint is placed in")
	}
	for _, z := range d.Zones {
		if v := f.Get(z.Field); v != "" {
			req.Zones = append(req.Zones, api.EndpointZoneRequest{ZoneID: z.ZoneID, VSwitchID: v})
		}
	}
	if len(req.Zones) == 0 {
		f.fail("zones", "choose a vSwitch in at least one zone (two zones for high availability)")
	}
	sg := f.Get("securityGroup")
	if sg == "" {
		f.fail("securityGroup", "choose a security group, or let the console create one")
	}
	if f.ok() {
		if ep, ok := c.createEndpoint(r.Context(), cl, f, d.Svc, req, sg); ok {
			c.redirect(w, r, s, "/console/endpoints/"+esc(ep.EndpointID),
				"Endpoint "+ep.EndpointID+" created. It turns Active once every zone's ENI is ready.", false)
			return
		}
	}
	c.render(w, r, http.StatusBadRequest, "endpoint_new", &view{Title: "Create endpoint", Nav: "endpoints", S: s, D: d})
}

// createEndpoint creates the endpoint, first creating its security group
// when asked to ("new": accept the service's ports from the VPC's CIDR).
// When the endpoint cannot be created, the new group is deleted again, so
// a failed form leaves nothing behind.
func (c *Console) createEndpoint(ctx context.Context, cl *client.Client, f *form, svc *model.EndpointService, req api.CreateEndpointRequest, sg string) (model.Endpoint, bool) {
	newSG := ""
	if sg == "new" {
		vpc, err := cl.GetVPC(ctx, req.VpcID)
		if err != nil {
			f.apiFail(err, endpointFields)
			return model.Endpoint{}, false
		}
		sreq := api.CreateSecurityGroupRequest{VpcID: vpc.VpcID, Name: "endpoint-" + svc.ServiceID}
		if req.ClientToken != "" {
			// A resubmitted form gets the same group back, so the endpoint
			// request is the same too and returns the endpoint made before.
			sreq.ClientToken = req.ClientToken + "-sg"
		}
		for _, p := range svc.Ports {
			sreq.Rules = append(sreq.Rules, model.SecurityGroupRule{Protocol: "tcp", PortRange: strconv.Itoa(p) + "/" + strconv.Itoa(p),
				SourceCidr: vpc.CidrBlock.String(), Policy: "accept", Priority: 1})
		}
		for _, p := range svc.UDPPorts {
			sreq.Rules = append(sreq.Rules, model.SecurityGroupRule{Protocol: "udp", PortRange: strconv.Itoa(p) + "/" + strconv.Itoa(p),
				SourceCidr: vpc.CidrBlock.String(), Policy: "accept", Priority: 1})
		}
		g, err := cl.CreateSecurityGroup(ctx, sreq)
		if err != nil {
			f.fail("securityGroup", "The security group could not be created: "+errText(err))
			return model.Endpoint{}, false
		}
		newSG, sg = g.SecurityGroupID, g.SecurityGroupID
	}
	req.SecurityGroupIDs = []string{sg}
	ep, err := cl.CreateEndpoint(ctx, req)
	if newSG != "" && (err != nil || !slices.Contains(ep.SecurityGroupIDs, newSG)) {
		// failed, or a resubmitted form returned the endpoint created before
		_, _ = cl.DeleteSecurityGroup(ctx, newSG)
	}
	if err != nil {
		f.apiFail(err, endpointFields)
		return ep, false
	}
	return ep, true
}

type endpointData struct {
	EP      model.Endpoint
	Port    string
	Settled bool
	Live    liveData
}

func (c *Console) endpointShow(w http.ResponseWriter, r *http.Request, s *session) {
	cl := c.api(s)
	d := endpointData{Port: "<port>"}
	var err error
	if d.EP, err = cl.GetEndpoint(r.Context(), r.PathValue("id")); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if svc, err := cl.GetService(r.Context(), d.EP.ServiceID); err == nil {
		d.Port = firstPort(svc.Ports)
	}
	d.Settled = settled(d.EP)
	d.Live = c.endpointLive(r.Context(), cl, d.EP.EndpointID, window(r))
	c.render(w, r, http.StatusOK, "endpoint", &view{Title: "Endpoint " + d.EP.EndpointID, Nav: "endpoints", S: s, D: d})
}

// settled reports whether the endpoint's state will not change by itself
// soon, so the page can stop polling.
func settled(ep model.Endpoint) bool {
	if ep.EndpointStatus != model.StatusActive {
		return false
	}
	switch ep.ConnectionStatus {
	case model.ConnPending, model.ConnConnecting, model.ConnDisconnecting, model.ConnDeleting:
		return false
	}
	for _, z := range ep.Zones {
		if z.ZoneStatus == model.ZoneCreating {
			return false
		}
	}
	return true
}

type endpointStatus struct {
	EndpointID       string               `json:"endpointId"`
	EndpointStatus   string               `json:"endpointStatus"`
	ConnectionStatus string               `json:"connectionStatus"`
	Zones            []model.EndpointZone `json:"zones"`
	Settled          bool                 `json:"settled"`
}

// endpointStatusJSON feeds the endpoint page's polling script.
func (c *Console) endpointStatusJSON(w http.ResponseWriter, r *http.Request, s *session) {
	ep, err := c.api(s).GetEndpoint(r.Context(), r.PathValue("id"))
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			writeJSON(w, ae.Status, ae)
			return
		}
		writeJSON(w, http.StatusInternalServerError, map[string]string{"code": "InternalError", "message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, endpointStatus{EndpointID: ep.EndpointID, EndpointStatus: ep.EndpointStatus,
		ConnectionStatus: ep.ConnectionStatus, Zones: ep.Zones, Settled: settled(ep)})
}

func (c *Console) endpointDelete(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := c.api(s).DeleteEndpoint(r.Context(), id); err != nil {
		c.redirect(w, r, s, "/console/endpoints/"+esc(id), errText(err), true)
		return
	}
	c.redirect(w, r, s, "/console/endpoints", "Endpoint "+id+" deleted; its IP addresses are released.", false)
}
