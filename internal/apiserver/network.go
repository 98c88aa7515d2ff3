package apiserver

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

func vpcOwner(v model.VPC) string             { return v.AccountID }
func vswOwner(v model.VSwitch) string         { return v.AccountID }
func sgOwner(v model.SecurityGroup) string    { return v.AccountID }
func hostOwner(v model.Host) string           { return v.AccountID }
func svcOwner(v model.EndpointService) string { return v.AccountID }
func epOwner(v model.Endpoint) string         { return v.AccountID }

func (a *API) createVPC(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.CreateVPCRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := model.ValidateName("VpcName", req.Name, true); err != nil {
		return nil, err
	}
	if _, err := model.ParseCIDR("CidrBlock", req.CidrBlock); err != nil {
		return nil, err
	}
	if req.NetnsPath != "" && !callerOf(r).Admin {
		return nil, model.Errorf(http.StatusForbidden, "Forbidden.AdoptNamespace", "only the admin may adopt an existing network namespace (netnsPath)")
	}
	return createThenGet(a, r, store.KindVPC, "Vpc", req.ClientToken, req.DryRun, req, func() (*plan, error) {
		v := model.VPC{VpcID: model.NewID(model.PrefixVPC), AccountID: callerOf(r).AccountID, Name: req.Name,
			CidrBlock: req.CidrBlock, NetnsPath: req.NetnsPath, Status: model.StatusAvailable, CreateTime: now()}
		return &plan{id: v.VpcID, value: v}, nil
	}, vpcOwner)
}

func (a *API) getVPC(w http.ResponseWriter, r *http.Request) (any, error) {
	v, _, err := getOwned(a, r, store.KindVPC, "Vpc", r.PathValue("id"), vpcOwner)
	return v, err
}

func (a *API) listVPCs(w http.ResponseWriter, r *http.Request) (any, error) {
	items, err := listOwned(a, r, store.KindVPC, vpcOwner, nil)
	if err != nil {
		return nil, err
	}
	return paginate(r, items, func(v model.VPC) string { return v.VpcID })
}

func (a *API) deleteVPC(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	v, rev, err := getOwned(a, r, store.KindVPC, "Vpc", id, vpcOwner)
	if err != nil {
		return nil, err
	}
	st, err := a.snapshot(r)
	if err != nil {
		return nil, err
	}
	for _, x := range st.VSwitches {
		if x.VpcID == id {
			return nil, dependency("Vpc", id, "vSwitch "+x.VSwitchID)
		}
	}
	for _, x := range st.SGs {
		if x.VpcID == id {
			return nil, dependency("Vpc", id, "security group "+x.SecurityGroupID)
		}
	}
	for _, x := range st.Services {
		if x.VpcID == id {
			return nil, dependency("Vpc", id, "endpoint service "+x.ServiceID)
		}
	}
	key := a.st.Key(store.KindVPC, id)
	if err := a.deleteIf(r, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, clientv3.OpDelete(key)); err != nil {
		return nil, err
	}
	return v, nil
}

func (a *API) createVSwitch(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.CreateVSwitchRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := model.ValidateName("VSwitchName", req.Name, true); err != nil {
		return nil, err
	}
	if err := a.checkZone("ZoneId", req.ZoneID); err != nil {
		return nil, err
	}
	cidr, err := model.ParseCIDR("CidrBlock", req.CidrBlock)
	if err != nil {
		return nil, err
	}
	build := func() (*plan, error) {
		vpc, vrev, err := getOwned(a, r, store.KindVPC, "Vpc", req.VpcID, vpcOwner)
		if err != nil {
			return nil, err
		}
		vpcCidr := netip.MustParsePrefix(vpc.CidrBlock)
		if !model.Contains(vpcCidr, cidr) {
			return nil, model.Invalid("CidrBlock", "vSwitch CIDR %s must lie inside the VPC CIDR %s", cidr, vpcCidr)
		}
		sibs, err := listOwned(a, r, store.KindVSwitch, vswOwner, func(x model.VSwitch) bool { return x.VpcID == vpc.VpcID })
		if err != nil {
			return nil, err
		}
		if len(sibs) >= api.MaxVSwitchesPerVPC {
			return nil, model.Errorf(http.StatusBadRequest, "QuotaExceeded.VSwitchesPerVpc", "a VPC has at most %d vSwitches", api.MaxVSwitchesPerVPC)
		}
		for _, s := range sibs {
			if model.Overlaps(netip.MustParsePrefix(s.CidrBlock), cidr) {
				return nil, model.Invalid("CidrBlock", "vSwitch CIDR %s overlaps %s (%s) in the same VPC", cidr, s.CidrBlock, s.VSwitchID)
			}
		}
		v := model.VSwitch{VSwitchID: model.NewID(model.PrefixVSwitch), AccountID: vpc.AccountID, VpcID: vpc.VpcID,
			ZoneID: req.ZoneID, Name: req.Name, CidrBlock: cidr.String(), Gateway: model.Gateway(cidr).String(),
			Status: model.StatusAvailable, CreateTime: now()}
		c, o := touch(a.st.Key(store.KindVPC, vpc.VpcID), vrev, vpc)
		return &plan{id: v.VSwitchID, value: v, cmps: []clientv3.Cmp{c}, ops: []clientv3.Op{o}}, nil
	}
	return createThenGet(a, r, store.KindVSwitch, "VSwitch", req.ClientToken, req.DryRun, req, build, vswOwner)
}

func (a *API) getVSwitch(w http.ResponseWriter, r *http.Request) (any, error) {
	v, _, err := getOwned(a, r, store.KindVSwitch, "VSwitch", r.PathValue("id"), vswOwner)
	return v, err
}

func (a *API) listVSwitches(w http.ResponseWriter, r *http.Request) (any, error) {
	vpc := r.URL.Query().Get("vpcId")
	items, err := listOwned(a, r, store.KindVSwitch, vswOwner, func(v model.VSwitch) bool { return vpc == "" || v.VpcID == vpc })
	if err != nil {
		return nil, err
	}
	return paginate(r, items, func(v model.VSwitch) string { return v.VSwitchID })
}

func (a *API) deleteVSwitch(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	v, rev, err := getOwned(a, r, store.KindVSwitch, "VSwitch", id, vswOwner)
	if err != nil {
		return nil, err
	}
	resp, err := a.st.Client().Get(r.Context(), a.st.Key(store.KindIPAM, id)+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, internal("count ipam: %w", err)
	}
	if resp.Count > 0 {
		return nil, dependency("VSwitch", id, "hosts or endpoint ENIs")
	}
	key := a.st.Key(store.KindVSwitch, id)
	if err := a.deleteIf(r, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev), noneUnder(a.st.Key(store.KindIPAM, id) + "/")},
		clientv3.OpDelete(key)); err != nil {
		return nil, err
	}
	return v, nil
}

func (a *API) checkZone(field, z string) error {
	if z == "" {
		return model.Invalid(field, "zoneId is required; zones of region %s: %v", a.naming.Region, a.zones)
	}
	if !slices.Contains(a.zones, z) {
		return model.Errorf(http.StatusBadRequest, "InvalidZoneId.NotFound", "zone %q is not a zone of region %s (zones: %v)", z, a.naming.Region, a.zones)
	}
	return nil
}

func dependency(kind, id, what string) error {
	return model.Errorf(http.StatusBadRequest, "DependencyViolation."+kind, "%s %s is still used by %s; delete that first", kind, id, what)
}

// deleteIf commits a delete guarded by cmps; a lost race is a 409. The
// first op deletes the resource key; the resource's clientToken record goes
// with it, so the token may create a new resource later.
func (a *API) deleteIf(r *http.Request, cmps []clientv3.Cmp, ops ...clientv3.Op) error {
	rev := a.st.Key("idemrev") + strings.TrimPrefix(string(ops[0].KeyBytes()), a.st.Prefix())
	if resp, err := a.st.Client().Get(r.Context(), rev); err == nil && len(resp.Kvs) == 1 {
		ops = append(ops, clientv3.OpDelete(rev), clientv3.OpDelete(string(resp.Kvs[0].Value)))
	}
	resp, err := a.st.Client().Txn(r.Context()).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return internal("delete: %w", err)
	}
	if !resp.Succeeded {
		return model.Errorf(http.StatusConflict, "Conflict.Concurrent", "the resource changed while deleting it; retry")
	}
	return nil
}

// snapshot reads the current resources for dependency checks.
func (a *API) snapshot(r *http.Request) (*store.State, error) {
	return store.ReadState(r.Context(), a.st)
}
