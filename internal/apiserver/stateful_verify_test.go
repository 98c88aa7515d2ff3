package apiserver_test

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// verify compares what every account sees with the model and checks the
// store's records of the sequence's accounts for consistency.
func (w *world) verify() {
	w.t.Helper()
	for _, a := range w.actors {
		w.checkLists(a)
		w.checkSearch(a)
		for _, id := range w.order {
			w.checkGet(a, w.res[id].kind, id)
		}
	}
	w.checkStore()
}

// checkLists: each list shows exactly the caller's live resources.
func (w *world) checkLists(a *actor) {
	w.t.Helper()
	lists := []struct {
		kind, op string
		list     func() ([]string, []string, error) // IDs, owners
	}{
		{kVPC, api.OpListVPCs, func() ([]string, []string, error) {
			v, err := a.c.ListVPCs(bg)
			return ids(v, func(x api.VPC) (string, string) { return x.VpcID, x.AccountID }), owners(v, func(x api.VPC) string { return x.AccountID }), err
		}},
		{kVSwitch, api.OpListVSwitches, func() ([]string, []string, error) {
			v, err := a.c.ListVSwitches(bg, client.Filter{})
			return ids(v, func(x api.VSwitch) (string, string) { return x.VSwitchID, x.AccountID }), owners(v, func(x api.VSwitch) string { return x.AccountID }), err
		}},
		{kSG, api.OpListSecurityGroups, func() ([]string, []string, error) {
			v, err := a.c.ListSecurityGroups(bg, client.Filter{})
			return ids(v, func(x api.SecurityGroup) (string, string) { return x.SecurityGroupID, x.AccountID }), owners(v, func(x api.SecurityGroup) string { return x.AccountID }), err
		}},
		{kHost, api.OpListHosts, func() ([]string, []string, error) {
			v, err := a.c.ListHosts(bg, client.Filter{})
			return ids(v, func(x api.Host) (string, string) { return x.HostID, x.AccountID }), owners(v, func(x api.Host) string { return x.AccountID }), err
		}},
		{kService, api.OpListServices, func() ([]string, []string, error) {
			v, err := a.c.ListServices(bg)
			return ids(v, func(x api.EndpointService) (string, string) { return x.ServiceID, x.AccountID }), owners(v, func(x api.EndpointService) string { return x.AccountID }), err
		}},
		{kEndpoint, api.OpListEndpoints, func() ([]string, []string, error) {
			v, err := a.c.ListEndpoints(bg, client.Filter{})
			return ids(v, func(x api.Endpoint) (string, string) { return x.EndpointID, x.AccountID }), owners(v, func(x api.Endpoint) string { return x.AccountID }), err
		}},
	}
	for _, l := range lists {
		got, own, err := l.list()
		if !w.answer(a, l.op, "", err) {
			continue
		}
		for i, o := range own {
			if o != a.id {
				w.leak("%s lists %s %s of account %s", a.id, l.kind, got[i], o)
			}
		}
		slices.Sort(got)
		if want := w.alive(l.kind, a); !slices.Equal(got, want) {
			w.t.Errorf("%s lists %s: got %v, want %v", a.id, l.kind, got, want)
		}
	}
}

func ids[T any](v []T, f func(T) (string, string)) []string {
	out := make([]string, 0, len(v))
	for _, x := range v {
		id, _ := f(x)
		out = append(out, id)
	}
	return out
}

func owners[T any](v []T, f func(T) string) []string {
	out := make([]string, 0, len(v))
	for _, x := range v {
		out = append(out, f(x))
	}
	return out
}

// storeView is the store's records of the sequence's accounts.
type storeView struct {
	vpcs map[string]model.VPC
	vsws map[string]model.VSwitch
	sgs  map[string]model.SecurityGroup
	hsts map[string]model.Host
	svcs map[string]model.EndpointService
	eps  map[string]model.Endpoint
	keys map[string]string // every key, without the store prefix
}

func readAll[T any](w *world, kind string, id func(T) (string, string), mine func(string) bool) map[string]T {
	vs, err := store.List[T](bg, w.e.Store, w.e.Store.KindPrefix(kind))
	if err != nil {
		w.t.Fatalf("list %s: %v", kind, err)
	}
	out := map[string]T{}
	for _, v := range vs {
		if k, owner := id(v); mine(owner) {
			out[k] = v
		}
	}
	return out
}

// checkStore: no record whose parent is gone or belongs to another
// account, every address claimed once by the record that holds it, index
// keys matching the endpoints, and no Connected endpoint of an account
// its service does not admit.
func (w *world) checkStore() {
	w.t.Helper()
	mine := func(acct string) bool {
		return slices.ContainsFunc(w.actors, func(a *actor) bool { return a.id == acct })
	}
	v := storeView{
		vpcs: readAll(w, store.KindVPC, func(x model.VPC) (string, string) { return x.VpcID, x.AccountID }, mine),
		vsws: readAll(w, store.KindVSwitch, func(x model.VSwitch) (string, string) { return x.VSwitchID, x.AccountID }, mine),
		sgs:  readAll(w, store.KindSG, func(x model.SecurityGroup) (string, string) { return x.SecurityGroupID, x.AccountID }, mine),
		hsts: readAll(w, store.KindHost, func(x model.Host) (string, string) { return x.HostID, x.AccountID }, mine),
		svcs: readAll(w, store.KindService, func(x model.EndpointService) (string, string) { return x.ServiceID, x.AccountID }, mine),
		eps:  readAll(w, store.KindEndpoint, func(x model.Endpoint) (string, string) { return x.EndpointID, x.AccountID }, mine),
		keys: map[string]string{},
	}
	dump, err := w.e.Store.Dump(bg)
	if err != nil {
		w.t.Fatal(err)
	}
	root := strings.TrimSuffix(w.e.Store.KindPrefix(store.KindVPC), store.KindVPC+"/")
	for k, val := range dump {
		v.keys[strings.TrimPrefix(k, root)] = val
	}
	errf := w.t.Errorf
	inVPC := func(what, owner, vpc string) {
		if p, ok := v.vpcs[vpc]; !ok || p.AccountID != owner {
			errf("store: %s is in VPC %s, which is gone or another account's", what, vpc)
		}
	}
	claimed := map[string]string{} // ipam key -> holder
	claim := func(vsw string, ip netip.Addr, holder string) {
		k := "ipam/" + vsw + "/" + ip.String()
		if v.keys[k] != holder {
			errf("store: %s holds %s in %s but its ipam key names %q", holder, ip, vsw, v.keys[k])
		}
		if prev, dup := claimed[k]; dup {
			errf("store: address %s of %s handed out twice (%s, %s)", ip, vsw, prev, holder)
		}
		claimed[k] = holder
	}
	for _, s := range v.vsws {
		inVPC("vSwitch "+s.VSwitchID, s.AccountID, s.VpcID)
	}
	for _, g := range v.sgs {
		inVPC("security group "+g.SecurityGroupID, g.AccountID, g.VpcID)
	}
	for _, h := range v.hsts {
		if s, ok := v.vsws[h.VSwitchID]; !ok || s.AccountID != h.AccountID || s.VpcID != h.VpcID {
			errf("store: host %s is on vSwitch %s, which is gone or not in its VPC", h.HostID, h.VSwitchID)
		}
		claim(h.VSwitchID, h.IP, h.HostID)
	}
	for _, s := range v.svcs {
		if s.VpcID != "" {
			inVPC("service "+s.ServiceID, s.AccountID, s.VpcID)
		}
	}
	for _, ep := range v.eps {
		w.checkEndpoint(v, ep, inVPC, claim)
	}
	for k, holder := range v.keys {
		parts := strings.Split(k, "/")
		switch {
		case parts[0] == store.KindIPAM && len(parts) == 3 && v.vsws[parts[1]].VSwitchID != "" && claimed[k] == "":
			errf("store: %s is claimed by %q, which holds no such address", k, holder)
		case parts[0] == store.KindSvcEp && len(parts) == 3 && v.svcs[parts[1]].ServiceID != "" && v.eps[parts[2]].ServiceID != parts[1]:
			errf("store: index key %s names no endpoint of that service", k)
		case parts[0] == store.KindVPCEp && len(parts) == 3 && v.vpcs[parts[1]].VpcID != "" && v.eps[parts[2]].VpcID != parts[1]:
			errf("store: index key %s names no endpoint of that VPC", k)
		}
	}
}

func (w *world) checkEndpoint(v storeView, ep model.Endpoint, inVPC func(what, owner, vpc string), claim func(string, netip.Addr, string)) {
	errf := w.t.Errorf
	inVPC("endpoint "+ep.EndpointID, ep.AccountID, ep.VpcID)
	for _, sg := range ep.SecurityGroupIDs {
		if g, ok := v.sgs[sg]; !ok || g.AccountID != ep.AccountID || g.VpcID != ep.VpcID {
			errf("store: endpoint %s uses security group %s, which is gone or not in its VPC", ep.EndpointID, sg)
		}
	}
	for _, z := range ep.Zones {
		if s, ok := v.vsws[z.VSwitchID]; !ok || s.AccountID != ep.AccountID || s.VpcID != ep.VpcID {
			errf("store: endpoint %s has an ENI on vSwitch %s, which is gone or not in its VPC", ep.EndpointID, z.VSwitchID)
		}
		claim(z.VSwitchID, z.IP, z.EniID)
	}
	if _, ok := v.keys["vpcep/"+ep.VpcID+"/"+ep.EndpointID]; !ok {
		errf("store: endpoint %s has no VPC index key", ep.EndpointID)
	}
	if _, ok := v.keys["svcep/"+ep.ServiceID+"/"+ep.EndpointID]; !ok {
		errf("store: endpoint %s has no service index key", ep.EndpointID)
	}
	svc, ok := v.svcs[ep.ServiceID]
	switch {
	case ep.ConnectionStatus == model.ConnConnected && (!ok || !svc.Admits(ep.AccountID)):
		errf("store: endpoint %s of account %s is Connected to service %s, which does not admit it", ep.EndpointID, ep.AccountID, ep.ServiceID)
	case !ok && ep.ConnectionStatus != model.ConnServiceDeleted && w.get(kService, ep.ServiceID) != nil:
		errf("store: endpoint %s's service %s is gone but it is %s, not ServiceDeleted", ep.EndpointID, ep.ServiceID, ep.ConnectionStatus)
	}
}

// teardown deletes every live resource as its owner, then the accounts
// as the admin; each must succeed, and no key may name them afterwards.
func (w *world) teardown() {
	w.t.Helper()
	byID := map[string]*actor{}
	for _, a := range w.actors {
		byID[a.id] = a
	}
	for _, kind := range teardownOrder {
		for _, id := range w.order {
			r := w.res[id]
			if r.kind != kind || !r.alive {
				continue
			}
			a := byID[r.owner]
			if w.answer(a, deleteOps[kind], id+" (teardown)", w.del(a.c, kind, id)) {
				r.alive = false
			} else {
				w.t.Errorf("teardown: %s %s cannot be deleted", kind, id)
			}
		}
	}
	for _, a := range w.actors {
		if _, err := w.e.Admin.DeleteAccount(bg, a.id); err != nil {
			w.t.Errorf("teardown: delete account %s: %v", a.id, err)
		}
	}
	dump, err := w.e.Store.Dump(bg)
	if err != nil {
		w.t.Fatal(err)
	}
	for k, val := range dump {
		if strings.Contains(k, "/event/") || strings.Contains(k, "/quotahit/") {
			continue // events are history, quota hits expire (a lease): both name accounts by design
		}
		for _, id := range append(slices.Clone(w.order), w.accountIDs()...) {
			if strings.Contains(k, id) || strings.Contains(val, id) && !strings.Contains(k, "/report/") && !strings.Contains(k, "/traffic/") {
				w.t.Errorf("teardown: key %s still names %s", k, id)
				break
			}
		}
	}
}

func (w *world) accountIDs() []string {
	var out []string
	for _, a := range w.actors {
		out = append(out, a.id)
	}
	return out
}
