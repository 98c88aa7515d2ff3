package console

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/privlink/privlink/internal/apiserver"
	"github.com/privlink/privlink/internal/model"
)

type servicesData struct {
	Services []model.EndpointService
}

func (c *Console) servicesList(w http.ResponseWriter, r *http.Request, s *session) {
	svcs, err := listAll[model.EndpointService](c.api(r, s), "/v1/services")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "services", &view{Title: "Endpoint services", Nav: "services", S: s, D: servicesData{Services: svcs}})
}

type serviceFormData struct {
	Form  *form
	VPCs  []model.VPC
	Zones []string
}

func (c *Console) serviceNew(w http.ResponseWriter, r *http.Request, s *session) {
	f := newCreateForm()
	f.Values.Set("port", "6001")
	c.renderServiceForm(w, r, s, http.StatusOK, f)
}

func (c *Console) renderServiceForm(w http.ResponseWriter, r *http.Request, s *session, status int, f *form) {
	api := c.api(r, s)
	vpcs, err := listAll[model.VPC](api, "/v1/vpcs")
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var region apiserver.Region
	if err := api.get("/v1/region", &region); err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := serviceFormData{Form: f, VPCs: vpcs}
	for _, z := range region.Zones {
		d.Zones = append(d.Zones, z.ZoneID)
	}
	c.render(w, r, status, "service_new", &view{Title: "Create endpoint service", Nav: "services", S: s, D: d})
}

var serviceFields = fieldMap{
	"ServiceDescription":               "description",
	"Ports":                            "port",
	"Resources":                        "backends",
	"QuotaExceeded.BackendsPerService": "backends",
	"InvalidZoneId.NotFound":           "backends",
	"VpcNotFound":                      "vpcId",
	"AllowedAccounts":                  "allowedAccounts",
	"ConnectBandwidth":                 "bandwidth",
}

// parsePorts reads "6001" or "6001, 6002".
func parsePorts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q is not a port number (1-65535)", p)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("enter the port consumers connect to, e.g. 6001")
	}
	return out, nil
}

// parseBackends reads one ZONE=IP:PORT (or ZONE=IP) per line.
func parseBackends(s string) ([]model.Backend, error) {
	var out []model.Backend
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := model.ParseBackend(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s", i+1, err.(*model.Error).Message)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("add at least one backend, one ZONE=IP:PORT per line")
	}
	return out, nil
}

// splitList reads values separated by commas, spaces or newlines.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func (c *Console) serviceCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	req := apiserver.CreateServiceRequest{
		Description:         f.Raw("description"),
		VpcID:               f.Get("vpcId"),
		AutoAcceptEnabled:   f.Checked("autoAccept"),
		ZoneAffinityEnabled: f.Checked("zoneAffinity"),
		ProxyProtocol:       f.Checked("proxyProtocol"),
		AllowedAccounts:     splitList(f.Get("allowedAccounts")),
		ClientToken:         f.Get("clientToken"),
	}
	var err error
	if req.Ports, err = parsePorts(f.Get("port")); err != nil {
		f.fail("port", err.Error())
	}
	if req.Resources, err = parseBackends(f.Raw("backends")); err != nil {
		f.fail("backends", err.Error())
	}
	if b := f.Get("bandwidth"); b != "" {
		if req.ConnectBandwidth, err = strconv.Atoi(b); err != nil {
			f.fail("bandwidth", "bandwidth must be a whole number of Mbps (0 = unlimited)")
		}
	}
	if f.ok() {
		var svc model.EndpointService
		if err := c.api(r, s).post("/v1/services", req, &svc); err != nil {
			f.apiFail(err, serviceFields)
		} else {
			c.redirect(w, r, s, "/console/services/"+esc(svc.ServiceID), "Endpoint service "+svc.Name+" created.", false)
			return
		}
	}
	c.renderServiceForm(w, r, s, http.StatusBadRequest, f)
}

type zoneBackends struct {
	ZoneID   string
	Backends []string
}

type serviceData struct {
	Svc         model.EndpointService
	Owner       bool
	Region      apiserver.Region
	ByZone      []zoneBackends
	Connections []apiserver.Connection
	AllowForm   *form
}

func (c *Console) serviceShow(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderService(w, r, s, http.StatusOK, newForm(nil))
}

func (c *Console) renderService(w http.ResponseWriter, r *http.Request, s *session, status int, allow *form) {
	api := c.api(r, s)
	d := serviceData{AllowForm: allow}
	if err := api.get("/v1/services/"+esc(r.PathValue("id")), &d.Svc); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if err := api.get("/v1/region", &d.Region); err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Owner = d.Svc.AccountID == s.AccountID
	if d.Owner {
		conns, err := listAll[apiserver.Connection](api, "/v1/services/"+esc(d.Svc.ServiceID)+"/connections")
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Connections = conns
	}
	for _, z := range d.Svc.Zones {
		zb := zoneBackends{ZoneID: z}
		for _, b := range d.Svc.Resources {
			if b.ZoneID == z {
				addr := b.IP
				if b.Port != 0 {
					addr = netip.AddrPortFrom(netip.MustParseAddr(b.IP), uint16(b.Port)).String()
				}
				if b.Health != "" {
					addr += " (" + b.Health + ")"
				}
				zb.Backends = append(zb.Backends, addr)
			}
		}
		d.ByZone = append(d.ByZone, zb)
	}
	c.render(w, r, status, "service", &view{Title: "Endpoint service " + d.Svc.ServiceID, Nav: "services", S: s, D: d})
}

func (c *Console) serviceAllow(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	id := r.PathValue("id")
	acct := f.Get("accountId")
	if !model.ValidAccountID(acct) {
		f.fail("accountId", fmt.Sprintf("%q is not an account ID; account IDs have 16 digits", acct))
	} else if err := c.api(r, s).post("/v1/services/"+esc(id)+"/allowed-accounts", apiserver.AllowRequest{AccountID: acct}, nil); err != nil {
		f.apiFail(err, fieldMap{"AccountId": "accountId", "AccountNotFound": "accountId"})
	} else {
		c.redirect(w, r, s, "/console/services/"+esc(id)+"#allowed", "Account "+acct+" may now connect to this service.", false)
		return
	}
	c.renderService(w, r, s, http.StatusBadRequest, f)
}

func (c *Console) serviceDisallow(w http.ResponseWriter, r *http.Request, s *session) {
	id, acct := r.PathValue("id"), r.PathValue("account")
	if err := c.api(r, s).del("/v1/services/"+esc(id)+"/allowed-accounts/"+esc(acct), nil); err != nil {
		c.redirect(w, r, s, "/console/services/"+esc(id)+"#allowed", errText(err), true)
		return
	}
	c.redirect(w, r, s, "/console/services/"+esc(id)+"#allowed", "Account "+acct+" removed; its endpoints are disconnected.", false)
}

func (c *Console) serviceConnection(w http.ResponseWriter, r *http.Request, s *session) {
	id, ep, verb := r.PathValue("id"), r.PathValue("endpoint"), r.PathValue("verb")
	if !slices.Contains([]string{"accept", "reject"}, verb) {
		c.errorPage(w, r, s, http.StatusNotFound, "Page not found", "Connections can only be accepted or rejected.")
		return
	}
	back := "/console/services/" + esc(id) + "#connections"
	if err := c.api(r, s).post("/v1/services/"+esc(id)+"/connections/"+esc(ep)+"/"+verb, nil, nil); err != nil {
		c.redirect(w, r, s, back, errText(err), true)
		return
	}
	msg := "Connection from " + ep + " accepted."
	if verb == "reject" {
		msg = "Connection from " + ep + " rejected; its traffic is stopped."
	}
	c.redirect(w, r, s, back, msg, false)
}

func (c *Console) serviceDelete(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if err := c.api(r, s).del("/v1/services/"+esc(id), nil); err != nil {
		c.redirect(w, r, s, "/console/services/"+esc(id), errText(err), true)
		return
	}
	c.redirect(w, r, s, "/console/services", "Endpoint service "+id+" deleted.", false)
}

// errText is an error as one line for a flash message.
func errText(err error) string {
	if ae, ok := err.(*apiError); ok {
		return ae.Message + " (" + ae.Code + ")"
	}
	return err.Error()
}
