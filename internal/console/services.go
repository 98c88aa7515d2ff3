package console

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
)

type servicesData struct {
	Services []model.EndpointService
}

func (c *Console) servicesList(w http.ResponseWriter, r *http.Request, s *session) {
	svcs, err := c.api(s).ListServices(r.Context())
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
	cl := c.api(s)
	vpcs, err := cl.ListVPCs(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	region, err := cl.DescribeRegion(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d := serviceFormData{Form: f, VPCs: vpcs, Zones: region.ZoneIDs()}
	c.render(w, r, status, "service_new", &view{Title: "Create endpoint service", Nav: "services", S: s, D: d})
}

var serviceFields = fieldMap{
	"ServiceDescription":               "description",
	"AddressIpVersion":                 "dualStack",
	"Ports":                            "port",
	"UdpPorts":                         "port",
	"Resources":                        "backends",
	"QuotaExceeded.BackendsPerService": "backends",
	"InvalidZoneId.NotFound":           "backends",
	"VpcNotFound":                      "vpcId",
	"AllowedAccounts":                  "allowedAccounts",
	"ConnectBandwidth":                 "bandwidth",
	"MaxConnectionsPerEndpoint":        "maxConnections",
	"NewConnectionsPerSecond":          "newConnectionsPerSecond",
	"Forwarding":                       "forwarding",
	"Forwarding.NoVpc":                 "forwarding",
	"Forwarding.NeedsProxy":            "forwarding",
}

// parsePorts reads "6001", "6001, 6002" or "53/udp, 53/tcp" into TCP and
// UDP ports.
func parsePorts(s string) (tcp, udp []int, err error) {
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		num, proto, _ := strings.Cut(p, "/")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 65535 {
			return nil, nil, fmt.Errorf("%q is not a port number (1-65535, optionally /tcp or /udp)", p)
		}
		switch strings.ToLower(proto) {
		case "", "tcp":
			tcp = append(tcp, n)
		case "udp":
			udp = append(udp, n)
		default:
			return nil, nil, fmt.Errorf("%q: the protocol must be tcp or udp", p)
		}
	}
	if len(tcp)+len(udp) == 0 {
		return nil, nil, fmt.Errorf("enter the port consumers connect to, e.g. 6001 or 53/udp")
	}
	return tcp, udp, nil
}

// parseBackends reads one ZONE=IP:PORT (or ZONE=IP) per line.
func parseBackends(s string) ([]api.BackendSpec, error) {
	var out []api.BackendSpec
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := api.ParseBackend(line)
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

// proxyTLVs reads the TLV choice: nil (the default) when not given.
func proxyTLVs(v string) []string {
	switch v {
	case "":
		return nil
	case "none":
		return []string{}
	}
	return splitList(v)
}

// splitList reads values separated by commas, spaces or newlines.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func (c *Console) serviceCreate(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(r.PostForm)
	req := api.CreateServiceRequest{
		Description:         f.Raw("description"),
		VpcID:               f.Get("vpcId"),
		AutoAcceptEnabled:   f.Checked("autoAccept"),
		ZoneAffinityEnabled: f.Checked("zoneAffinity"),
		ProxyProtocol:       f.Checked("proxyProtocol"),
		ProxyProtocolTLVs:   proxyTLVs(f.Get("proxyTlvs")),
		Forwarding:          f.Get("forwarding"),
		AddressIPVersion:    addressIPVersionForm(f),
		AllowedAccounts:     splitList(f.Get("allowedAccounts")),
		ClientToken:         f.Get("clientToken"),
	}
	var err error
	if req.Ports, req.UDPPorts, err = parsePorts(f.Get("port")); err != nil {
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
	for _, lim := range []struct {
		field string
		dst   *int
	}{{"maxConnections", &req.MaxConnsPerEndpoint}, {"newConnectionsPerSecond", &req.NewConnsPerSecond}} {
		if v := f.Get(lim.field); v != "" {
			if *lim.dst, err = strconv.Atoi(v); err != nil {
				f.fail(lim.field, "enter a whole number (0 = the server's default)")
			}
		}
	}
	if f.ok() {
		if svc, err := c.api(s).CreateService(r.Context(), req); err != nil {
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
	Region      api.Region
	ByZone      []zoneBackends
	Connections []api.Connection
	AllowForm   *form
	Live        liveData
}

func (c *Console) serviceShow(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderService(w, r, s, http.StatusOK, newForm(nil))
}

func (c *Console) renderService(w http.ResponseWriter, r *http.Request, s *session, status int, allow *form) {
	cl, ctx := c.api(s), r.Context()
	d := serviceData{AllowForm: allow}
	var err error
	if d.Svc, err = cl.GetService(ctx, r.PathValue("id")); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.Region, err = cl.DescribeRegion(ctx); err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Owner = d.Svc.AccountID == s.AccountID
	if d.Owner {
		if d.Connections, err = cl.ListConnections(ctx, d.Svc.ServiceID); err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Live = c.serviceLive(ctx, cl, d.Svc.ServiceID, window(r))
	}
	checked := map[string]backendRow{} // zone|ip:port -> the check made from that zone
	for _, b := range d.Live.Backends {
		if b.Health != "Not checked" {
			checked[b.ZoneID+"|"+b.Backend] = b
		}
	}
	for _, z := range d.Svc.Zones {
		zb := zoneBackends{ZoneID: z}
		for _, b := range d.Svc.Resources {
			if b.ZoneID == z {
				addr := b.IP.String()
				port := b.Port
				if b.Port != 0 {
					addr = netip.AddrPortFrom(b.IP, uint16(b.Port)).String()
				} else if len(d.Svc.Ports) > 0 {
					port = d.Svc.Ports[0]
				}
				if chk, ok := checked[z+"|"+netip.AddrPortFrom(b.IP, uint16(port)).String()]; ok {
					addr += " (" + chk.Health + ", " + chk.Latency + ")"
				} else if b.Health == "Unknown" && d.Owner {
					addr += " (not checked yet: no endpoint is served in this zone)"
				} else if b.Health != "" {
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
	} else if _, err := c.api(s).AllowAccount(r.Context(), id, acct); err != nil {
		f.apiFail(err, fieldMap{"AccountId": "accountId", "AccountNotFound": "accountId"})
	} else {
		c.redirect(w, r, s, "/console/services/"+esc(id)+"#allowed", "Account "+acct+" may now connect to this service.", false)
		return
	}
	c.renderService(w, r, s, http.StatusBadRequest, f)
}

func (c *Console) serviceDisallow(w http.ResponseWriter, r *http.Request, s *session) {
	id, acct := r.PathValue("id"), r.PathValue("account")
	if _, err := c.api(s).DisallowAccount(r.Context(), id, acct); err != nil {
		c.redirect(w, r, s, "/console/services/"+esc(id)+"#allowed", errText(err), true)
		return
	}
	c.redirect(w, r, s, "/console/services/"+esc(id)+"#allowed", "Account "+acct+" removed; its endpoints are disconnected.", false)
}

func (c *Console) serviceConnection(w http.ResponseWriter, r *http.Request, s *session) {
	id, ep, verb := r.PathValue("id"), r.PathValue("endpoint"), r.PathValue("verb")
	set := map[string]func(*client.Client, context.Context, string, string) (api.Connection, error){
		"accept": (*client.Client).AcceptConnection, "reject": (*client.Client).RejectConnection}[verb]
	if set == nil {
		c.errorPage(w, r, s, http.StatusNotFound, "Page not found", "Connections can only be accepted or rejected.")
		return
	}
	back := "/console/services/" + esc(id) + "#connections"
	if _, err := set(c.api(s), r.Context(), id, ep); err != nil {
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
	if _, err := c.api(s).DeleteService(r.Context(), id); err != nil {
		c.redirect(w, r, s, "/console/services/"+esc(id), errText(err), true)
		return
	}
	c.redirect(w, r, s, "/console/services", "Endpoint service "+id+" deleted.", false)
}

// errText is an error as one line for a flash message.
func errText(err error) string {
	if ae, ok := err.(*api.Error); ok {
		return ae.Message + " (" + ae.Code + ")"
	}
	return err.Error()
}
