package apiserver_test

import (
	"fmt"
	"slices"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
)

// garbage IDs: empty, well-formed but unknown, path tricks, oversized.
var garbage = []string{"", "vpc-aaaaaaaaaaaaaaaaaaaa", "x", "..", ".", "a/b", "ep-0?x=1", "%00", strings.Repeat("z", 300),
	"epsrv-aaaaaaaaaaaaaaaaaaaa", "com.privlink.cn-hangzhou.epsrv-aaaaaaaaaaaaaaaaaaaa", "0000000000000000"}

// pick draws an ID of kind: mostly one of a's live ones, often any the
// model ever had (other accounts', deleted ones), sometimes garbage.
func (w *world) pick(s *byteSource, a *actor, kind string) string {
	b := s.next()
	k := int(b / 8)
	var all []string
	for _, id := range w.order {
		if w.res[id].kind == kind {
			all = append(all, id)
		}
	}
	own := w.alive(kind, a)
	switch {
	case b%8 == 0:
	case b%8 <= 2 && len(all) > 0:
		return all[k%len(all)]
	case len(own) > 0:
		return own[k%len(own)]
	case len(all) > 0:
		return all[k%len(all)]
	}
	return garbage[k%len(garbage)]
}

// pickWhere draws like pick, but mostly among the live resources of kind
// that match (in the same VPC, of the same service), so that sequences
// reach deep states (services with backends, endpoints, connections).
func (w *world) pickWhere(s *byteSource, a *actor, kind string, match func(*resource) bool) string {
	b := s.next()
	if b%8 == 0 {
		return w.pick(s, a, kind)
	}
	var in []string
	for _, id := range w.order {
		if r := w.res[id]; r.kind == kind && r.alive && match(r) {
			in = append(in, id)
		}
	}
	if len(in) == 0 {
		return w.pick(s, a, kind)
	}
	return in[int(b/8)%len(in)]
}

func inVPC(vpc string) func(*resource) bool { return func(r *resource) bool { return r.vpc == vpc } }

// pickAccount draws an account ID: the actors', the admin's or garbage.
func (w *world) pickAccount(s *byteSource) string {
	i := s.n(len(w.actors) + 2)
	switch {
	case i < len(w.actors):
		return w.actors[i].id
	case i == len(w.actors):
		return "1000000000000000" // well-formed, no such account
	}
	return "not-an-account"
}

// ops are the calls a step can make, chosen by the input's next byte.
var ops = []func(w *world, s *byteSource, a *actor){
	opCreateVPC, opCreateVSwitch, opCreateSG, opRules, opCreateHost, opCreateService, opUpdateService,
	opAllow, opDisallow, opCreateEndpoint, opCreateEndpoint, opConnection, opDelete, opDelete, opGet, opGet,
	opListConnections, opSearch, opRotate, opProvision, opConsume, opConsume,
}

// step makes one call as one of the accounts.
func (w *world) step(s *byteSource) {
	a := w.actors[s.n(len(w.actors))]
	ops[s.n(len(ops))](w, s, a)
}

var cidrs = []string{"10.0.0.0/16", "192.168.0.0/16", "172.16.0.0/16", "10.1.0.0/24", "10.0.0.0/30", "300.0.0.0/16", ""}

func opCreateVPC(w *world, s *byteSource, a *actor) {
	cidr := cidrs[s.n(len(cidrs))]
	tok, dry := createOpts(s)
	v, err := a.c.CreateVPC(bg, api.CreateVPCRequest{Name: fmt.Sprintf("v%d", s.n(2)), CidrBlock: cidr, ClientToken: tok, DryRun: dry})
	if w.answer(a, api.OpCreateVPC, fmt.Sprintf("%s token %q dry %v", cidr, tok, dry), err) {
		if v.AccountID != a.id {
			w.leak("CreateVpc answered a VPC of account %s to %s", v.AccountID, a.id)
		}
		w.addOrReplay(&resource{kind: kVPC, id: v.VpcID, owner: a.id, cidr: v.CidrBlock.String()})
	}
}

func opCreateVSwitch(w *world, s *byteSource, a *actor) {
	vpc := w.pick(s, a, kVPC)
	zone := append(slices.Clone(w.zones), "cn-nowhere-z")[s.n(len(w.zones)+1)]
	cidr := "10.9.9.0/24"
	if r := w.get(kVPC, vpc); r != nil {
		if sub, err := scenario.Subnet(r.cidr, s.n(4)); err == nil {
			cidr = sub
		} else {
			cidr = r.cidr // a /30: too small for a vSwitch
		}
	}
	v, err := a.c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc, ZoneID: zone, CidrBlock: cidr})
	if w.answer(a, api.OpCreateVSwitch, vpc+" "+zone+" "+cidr, err) {
		if !w.owns(a, kVPC, vpc) || v.AccountID != a.id {
			w.leak("%s created vSwitch %s in VPC %s it does not own", a.id, v.VSwitchID, vpc)
		}
		w.add(&resource{kind: kVSwitch, id: v.VSwitchID, owner: a.id, vpc: vpc, zone: zone, cidr: v.CidrBlock.String()})
	}
}

var rules = []model.SecurityGroupRule{
	scenario.AcceptTCP(6001, 6001, "0.0.0.0/0"),
	scenario.AcceptTCP(1, 65535, "10.0.0.0/8"),
	{Protocol: "tcp", PortRange: "7000/6000", SourceCidr: "0.0.0.0/0", Policy: "accept", Priority: 1},
	{Protocol: "udp", PortRange: "53/53", SourceCidr: "::/0", Policy: "drop", Priority: 100},
}

func opCreateSG(w *world, s *byteSource, a *actor) {
	vpc := w.pick(s, a, kVPC)
	var rs []model.SecurityGroupRule
	if i := s.n(len(rules) + 1); i < len(rules) {
		rs = rules[i : i+1]
	}
	tok, dry := createOpts(s)
	g, err := a.c.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: vpc, Name: "g", Rules: rs, ClientToken: tok, DryRun: dry})
	ok := w.answer(a, api.OpCreateSecurityGroup, fmt.Sprintf("%s token %q dry %v", vpc, tok, dry), err)
	if (ok || isDry(err)) && !w.owns(a, kVPC, vpc) {
		w.leak("%s created (or passed a dry run of) a security group in VPC %s it does not own", a.id, vpc)
	}
	if ok {
		if g.AccountID != a.id || g.VpcID != vpc {
			w.leak("%s got security group %s of account %s in %s", a.id, g.SecurityGroupID, g.AccountID, g.VpcID)
		}
		w.addOrReplay(&resource{kind: kSG, id: g.SecurityGroupID, owner: a.id, vpc: vpc})
	}
}

func opRules(w *world, s *byteSource, a *actor) {
	sg := w.pick(s, a, kSG)
	req := api.RulesRequest{Rules: []model.SecurityGroupRule{rules[s.n(len(rules))]}}
	op, f := api.OpAuthorizeSG, a.c.AuthorizeSecurityGroup
	if s.next()%2 == 0 {
		op, f = api.OpRevokeSG, a.c.RevokeSecurityGroup
	}
	if _, err := f(bg, sg, req); w.answer(a, op, sg, err) && !w.owns(a, kSG, sg) {
		w.leak("%s changed the rules of security group %s it does not own", a.id, sg)
	}
}

func opCreateHost(w *world, s *byteSource, a *actor) {
	vsw := w.pick(s, a, kVSwitch)
	h, err := a.c.CreateHost(bg, api.CreateHostRequest{VSwitchID: vsw, Name: "h"})
	if w.answer(a, api.OpCreateHost, vsw, err) {
		if !w.owns(a, kVSwitch, vsw) || h.AccountID != a.id {
			w.leak("%s created host %s on vSwitch %s it does not own", a.id, h.HostID, vsw)
		}
		w.add(&resource{kind: kHost, id: h.HostID, owner: a.id, vpc: h.VpcID, vsw: vsw, zone: h.ZoneID, ip: h.IP.String()})
	}
}

func opCreateService(w *world, s *byteSource, a *actor) {
	vpc := w.pick(s, a, kVPC)
	// A backend: a host of any account (only the caller's own VPC's are valid).
	backend := api.BackendSpec{ZoneID: w.zones[0], IP: "10.0.1.10"}
	if h := w.get(kHost, w.pickWhere(s, a, kHost, inVPC(vpc))); h != nil {
		backend = api.BackendSpec{ZoneID: h.zone, IP: h.ip, Port: 8080}
	}
	var allowed []string
	for n := s.n(4); n > 0; n-- {
		allowed = append(allowed, w.pickAccount(s))
	}
	auto := s.next()%2 == 0
	v, err := a.c.CreateService(bg, api.CreateServiceRequest{VpcID: vpc, Ports: []int{6001}, Resources: []api.BackendSpec{backend},
		AutoAcceptEnabled: auto, AllowedAccounts: allowed})
	if w.answer(a, api.OpCreateService, fmt.Sprintf("%s %s:%s allow %v", vpc, backend.ZoneID, backend.IP, allowed), err) {
		if !w.owns(a, kVPC, vpc) || v.AccountID != a.id {
			w.leak("%s published service %s from VPC %s it does not own", a.id, v.ServiceID, vpc)
		}
		w.add(&resource{kind: kService, id: v.ServiceID, owner: a.id, vpc: vpc, name: v.Name, allowed: slices.Clone(v.AllowedAccounts)})
	}
}

func opUpdateService(w *world, s *byteSource, a *actor) {
	svc := w.pick(s, a, kService)
	auto := s.next()%2 == 0
	if _, err := a.c.UpdateService(bg, svc, api.UpdateServiceRequest{AutoAcceptEnabled: &auto}); w.answer(a, api.OpUpdateService, svc, err) && !w.owns(a, kService, svc) {
		w.leak("%s updated service %s it does not own", a.id, svc)
	}
}

func opAllow(w *world, s *byteSource, a *actor) {
	svc, acct := w.pick(s, a, kService), w.pickAccount(s)
	v, err := a.c.AllowAccount(bg, svc, acct)
	if w.answer(a, api.OpAllowAccount, svc+" "+acct, err) {
		if !w.owns(a, kService, svc) {
			w.leak("%s changed the allow-list of service %s it does not own", a.id, svc)
			return
		}
		w.get(kService, svc).allowed = slices.Clone(v.AllowedAccounts)
	}
}

func opDisallow(w *world, s *byteSource, a *actor) {
	svc, acct := w.pick(s, a, kService), w.pickAccount(s)
	v, err := a.c.DisallowAccount(bg, svc, acct)
	if w.answer(a, api.OpDisallowAccount, svc+" "+acct, err) {
		if !w.owns(a, kService, svc) {
			w.leak("%s changed the allow-list of service %s it does not own", a.id, svc)
			return
		}
		w.get(kService, svc).allowed = slices.Clone(v.AllowedAccounts)
	}
}

func opCreateEndpoint(w *world, s *byteSource, a *actor) {
	svc := w.pickWhere(s, a, kService, func(r *resource) bool { return w.admits(a.id, r.id) })
	ref := api.CreateEndpointRequest{ServiceID: svc}
	if r := w.get(kService, svc); r != nil && s.next()%2 == 0 {
		ref = api.CreateEndpointRequest{ServiceName: r.name}
	}
	vpc := w.pick(s, a, kVPC)
	sg, vsw := w.pickWhere(s, a, kSG, inVPC(vpc)), w.pickWhere(s, a, kVSwitch, inVPC(vpc))
	zone := w.zones[0]
	if r := w.get(kVSwitch, vsw); r != nil {
		zone = r.zone
	}
	req := ref
	req.VpcID, req.SecurityGroupIDs, req.Zones = vpc, []string{sg}, []api.EndpointZoneRequest{{ZoneID: zone, VSwitchID: vsw}}
	req.ClientToken, req.DryRun = createOpts(s)
	ep, err := a.c.CreateEndpoint(bg, req)
	ok := w.answer(a, api.OpCreateEndpoint, fmt.Sprintf("svc %s vpc %s sg %s vsw %s token %q dry %v", svc+ref.ServiceName, vpc, sg, vsw, req.ClientToken, req.DryRun), err)
	if ok || isDry(err) {
		if !w.owns(a, kVPC, vpc) || !w.owns(a, kSG, sg) || !w.owns(a, kVSwitch, vsw) {
			w.leak("%s created (or passed a dry run of) an endpoint with a VPC, security group or vSwitch it does not own", a.id)
		}
		if id := svc; !ok && !w.admits(a.id, id) && w.get(kService, id) != nil {
			w.leak("%s passed a dry run of an endpoint to service %s that does not admit it", a.id, id)
		}
	}
	if ok {
		if !w.admits(a.id, ep.ServiceID) || ep.AccountID != a.id {
			w.leak("%s created endpoint %s to service %s that does not admit it", a.id, ep.EndpointID, ep.ServiceID)
		}
		w.addOrReplay(&resource{kind: kEndpoint, id: ep.EndpointID, owner: a.id, vpc: vpc, vsw: vsw, svc: ep.ServiceID})
	}
}

func opConnection(w *world, s *byteSource, a *actor) {
	svc := w.pick(s, a, kService)
	ep := w.pickWhere(s, a, kEndpoint, func(r *resource) bool { return r.svc == svc })
	op, f := api.OpAcceptConnection, a.c.AcceptConnection
	if s.next()%2 == 0 {
		op, f = api.OpRejectConnection, a.c.RejectConnection
	}
	c, err := f(bg, svc, ep)
	if w.answer(a, op, svc+" "+ep, err) {
		r := w.get(kEndpoint, ep)
		if !w.owns(a, kService, svc) || r == nil || r.svc != svc {
			w.leak("%s %s endpoint %s of service %s it does not own", a.id, op, ep, svc)
		}
		if op == api.OpAcceptConnection && !w.admits(c.EndpointOwnerID, svc) {
			w.t.Errorf("%s accepted endpoint %s of account %s, which service %s does not admit", a.id, ep, c.EndpointOwnerID, svc)
		}
	}
}

func opDelete(w *world, s *byteSource, a *actor) {
	kind := teardownOrder[s.n(len(teardownOrder))]
	id := w.pick(s, a, kind)
	if w.answer(a, deleteOps[kind], id, w.del(a.c, kind, id)) {
		if !w.owns(a, kind, id) {
			w.leak("%s deleted %s %s it does not own", a.id, kind, id)
			return
		}
		w.get(kind, id).alive = false
	}
}

var deleteOps = map[string]string{kVPC: api.OpDeleteVPC, kVSwitch: api.OpDeleteVSwitch, kSG: api.OpDeleteSecurityGroup,
	kHost: api.OpDeleteHost, kService: api.OpDeleteService, kEndpoint: api.OpDeleteEndpoint}

func (w *world) del(c *client.Client, kind, id string) error {
	var err error
	switch kind {
	case kVPC:
		_, err = c.DeleteVPC(bg, id)
	case kVSwitch:
		_, err = c.DeleteVSwitch(bg, id)
	case kSG:
		_, err = c.DeleteSecurityGroup(bg, id)
	case kHost:
		_, err = c.DeleteHost(bg, id)
	case kService:
		_, err = c.DeleteService(bg, id)
	case kEndpoint:
		_, err = c.DeleteEndpoint(bg, id)
	}
	return err
}

func opGet(w *world, s *byteSource, a *actor) {
	kind := teardownOrder[s.n(len(teardownOrder))]
	w.checkGet(a, kind, w.pick(s, a, kind))
}

var getOps = map[string]string{kVPC: api.OpGetVPC, kVSwitch: api.OpGetVSwitch, kSG: api.OpGetSecurityGroup,
	kHost: api.OpGetHost, kService: api.OpGetService, kEndpoint: api.OpGetEndpoint}

// checkGet reads id as a: it succeeds exactly when the model says a may
// see it, shows the right owner, and a service read by a consumer hides
// the provider's backends, allow-list and VPC.
func (w *world) checkGet(a *actor, kind, id string) {
	w.t.Helper()
	var owner string
	var err error
	switch kind {
	case kVPC:
		var v api.VPC
		v, err = a.c.GetVPC(bg, id)
		owner = v.AccountID
	case kVSwitch:
		var v api.VSwitch
		v, err = a.c.GetVSwitch(bg, id)
		owner = v.AccountID
	case kSG:
		var v api.SecurityGroup
		v, err = a.c.GetSecurityGroup(bg, id)
		owner = v.AccountID
	case kHost:
		var v api.Host
		v, err = a.c.GetHost(bg, id)
		owner = v.AccountID
	case kService:
		var v api.EndpointService
		v, err = a.c.GetService(bg, id)
		owner = v.AccountID
		if err == nil && owner != a.id && (v.Resources != nil || v.AllowedAccounts != nil || v.VpcID != "") {
			w.leak("consumer %s sees the internals of service %s: %+v", a.id, id, v)
		}
	case kEndpoint:
		var v api.Endpoint
		v, err = a.c.GetEndpoint(bg, id)
		owner = v.AccountID
	}
	ok := w.answer(a, getOps[kind], id, err)
	r := w.get(kind, id)
	want := r != nil && w.visible(a, r)
	switch {
	case ok && !want:
		w.leak("%s can read %s %s (owner %s), which it neither owns nor is entitled to", a.id, kind, id, owner)
	case !ok && want:
		w.t.Errorf("%s cannot read its %s %s: %v", a.id, kind, id, err)
	case ok && owner != r.owner:
		w.t.Errorf("%s %s: owner %s, created by %s", kind, id, owner, r.owner)
	}
}

func opListConnections(w *world, s *byteSource, a *actor) {
	svc := w.pick(s, a, kService)
	cs, err := a.c.ListConnections(bg, svc)
	if !w.answer(a, api.OpListConnections, svc, err) {
		return
	}
	if !w.owns(a, kService, svc) {
		w.leak("%s lists the connections of service %s it does not own", a.id, svc)
	}
	for _, c := range cs {
		if c.ServiceID != svc {
			w.leak("connections of %s list endpoint %s of service %s", svc, c.EndpointID, c.ServiceID)
		}
	}
}

func opSearch(w *world, _ *byteSource, a *actor) {
	w.checkSearch(a)
}

// checkSearch: the services that allow-list a are exactly the model's.
func (w *world) checkSearch(a *actor) {
	w.t.Helper()
	got, err := a.c.SearchServices(bg, "")
	if !w.answer(a, api.OpSearchServices, "", err) {
		return
	}
	var ids []string
	for _, v := range got {
		ids = append(ids, v.ServiceID)
		if v.AccountID != a.id && (v.Resources != nil || v.AllowedAccounts != nil || v.VpcID != "") {
			w.leak("search shows %s the internals of service %s", a.id, v.ServiceID)
		}
	}
	var want []string
	for _, id := range w.order {
		if r := w.res[id]; r.kind == kService && w.admits(a.id, id) {
			want = append(want, id)
		}
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		w.t.Errorf("%s searches services: got %v, want %v", a.id, ids, want)
	}
}

func opRotate(w *world, s *byteSource, a *actor) {
	target := w.pickAccount(s)
	if s.next()%2 == 0 {
		target = a.id
	}
	old := a.c
	at, err := a.c.RotateToken(bg, target)
	if !w.answer(a, api.OpRotateToken, target, err) {
		return
	}
	if target != a.id || at.AccountID != a.id {
		w.leak("%s rotated the token of account %s", a.id, target)
		return
	}
	a.c = old.WithToken(at.Token)
	if _, err := old.WhoAmI(bg); err == nil {
		w.t.Errorf("%s: the token replaced by a rotation still works", a.id)
	}
}

// opProvision builds a provider's setup in valid calls: a VPC, a vSwitch,
// a host and a service with that host as backend, allow-listing some of
// the other accounts. Sequences reach services quickly this way.
func opProvision(w *world, s *byteSource, a *actor) {
	v, err := a.c.CreateVPC(bg, api.CreateVPCRequest{Name: "prov", CidrBlock: "10.0.0.0/16"})
	if !w.answer(a, api.OpCreateVPC, "provision", err) {
		return
	}
	w.add(&resource{kind: kVPC, id: v.VpcID, owner: a.id, cidr: v.CidrBlock.String()})
	zone := w.zones[s.n(len(w.zones))]
	sw, err := a.c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: v.VpcID, ZoneID: zone, CidrBlock: "10.0.1.0/24"})
	if !w.answer(a, api.OpCreateVSwitch, "provision", err) {
		return
	}
	w.add(&resource{kind: kVSwitch, id: sw.VSwitchID, owner: a.id, vpc: v.VpcID, zone: zone, cidr: sw.CidrBlock.String()})
	h, err := a.c.CreateHost(bg, api.CreateHostRequest{VSwitchID: sw.VSwitchID, Name: "backend"})
	if !w.answer(a, api.OpCreateHost, "provision", err) {
		return
	}
	w.add(&resource{kind: kHost, id: h.HostID, owner: a.id, vpc: v.VpcID, vsw: sw.VSwitchID, zone: zone, ip: h.IP.String()})
	var allowed []string
	for _, o := range w.actors {
		if o != a && s.next()%2 == 0 {
			allowed = append(allowed, o.id)
		}
	}
	svc, err := a.c.CreateService(bg, api.CreateServiceRequest{VpcID: v.VpcID, Ports: []int{6001},
		Resources: []api.BackendSpec{{ZoneID: zone, IP: h.IP.String()}}, AutoAcceptEnabled: s.next()%2 == 0, AllowedAccounts: allowed})
	if w.answer(a, api.OpCreateService, fmt.Sprintf("provision allow %v", allowed), err) {
		w.add(&resource{kind: kService, id: svc.ServiceID, owner: a.id, vpc: v.VpcID, name: svc.Name, allowed: slices.Clone(svc.AllowedAccounts)})
	}
}

// opConsume builds a consumer's network if a has none (VPC, vSwitch in
// each zone, security group) and creates an endpoint in it to a service
// that (the model says) admits a, or to any service.
func opConsume(w *world, s *byteSource, a *actor) {
	var vpc, sg string
	vsws := map[string]string{} // zone -> vSwitch
	for _, id := range w.alive(kVPC, a) {
		for _, x := range w.order {
			if r := w.res[x]; r.alive && r.vpc == id && r.kind == kSG {
				sg = x
			} else if r.alive && r.vpc == id && r.kind == kVSwitch {
				vsws[r.zone] = x
			}
		}
		if sg != "" && len(vsws) > 0 {
			vpc = id
			break
		}
		sg, vsws = "", map[string]string{}
	}
	if vpc == "" {
		v, err := a.c.CreateVPC(bg, api.CreateVPCRequest{Name: "cons", CidrBlock: "192.168.0.0/16"})
		if !w.answer(a, api.OpCreateVPC, "consume", err) {
			return
		}
		vpc = v.VpcID
		w.add(&resource{kind: kVPC, id: vpc, owner: a.id, cidr: v.CidrBlock.String()})
		for i, zone := range w.zones {
			sw, err := a.c.CreateVSwitch(bg, api.CreateVSwitchRequest{VpcID: vpc, ZoneID: zone, CidrBlock: fmt.Sprintf("192.168.%d.0/24", i+1)})
			if !w.answer(a, api.OpCreateVSwitch, "consume", err) {
				return
			}
			vsws[zone] = sw.VSwitchID
			w.add(&resource{kind: kVSwitch, id: sw.VSwitchID, owner: a.id, vpc: vpc, zone: zone, cidr: sw.CidrBlock.String()})
		}
		g, err := a.c.CreateSecurityGroup(bg, api.CreateSecurityGroupRequest{VpcID: vpc, Name: "cons", Rules: rules[:1]})
		if !w.answer(a, api.OpCreateSecurityGroup, "consume", err) {
			return
		}
		sg = g.SecurityGroupID
		w.add(&resource{kind: kSG, id: sg, owner: a.id, vpc: vpc})
	}
	svc := w.pickWhere(s, a, kService, func(r *resource) bool { return r.owner != a.id && w.admits(a.id, r.id) })
	zone := w.zones[0]
	if r := w.get(kService, svc); r != nil {
		for _, x := range w.order { // the zone of one of its backends
			if h := w.res[x]; h.kind == kHost && h.vpc == r.vpc {
				zone = h.zone
			}
		}
	}
	req := api.CreateEndpointRequest{ServiceID: svc, VpcID: vpc, SecurityGroupIDs: []string{sg},
		Zones: []api.EndpointZoneRequest{{ZoneID: zone, VSwitchID: vsws[zone]}}}
	ep, err := a.c.CreateEndpoint(bg, req)
	if w.answer(a, api.OpCreateEndpoint, "consume "+svc, err) {
		if !w.admits(a.id, ep.ServiceID) {
			w.leak("%s created endpoint %s to service %s that does not admit it", a.id, ep.EndpointID, ep.ServiceID)
		}
		w.add(&resource{kind: kEndpoint, id: ep.EndpointID, owner: a.id, vpc: vpc, vsw: vsws[zone], svc: ep.ServiceID})
	}
}
