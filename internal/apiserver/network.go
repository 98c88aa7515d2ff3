package apiserver

import (
	"net/http"
	"slices"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

func (a *API) createVPC(r *http.Request, req api.CreateVPCRequest) (any, error) {
	tagging, err := newTagging(req.Tags, req.ResourceGroupID)
	if err != nil {
		return nil, err
	}
	cidr, err := model.ParseCIDR("CidrBlock", req.CidrBlock)
	if err != nil {
		return nil, err
	}
	v6, autoV6, err := vpcIPv6Request(req.EnableIpv6, req.Ipv6CidrBlock)
	if err != nil {
		return nil, err
	}
	if req.NetnsPath != "" && !callerOf(r).Admin {
		return nil, model.Errorf(http.StatusForbidden, "Forbidden.AdoptNamespace", "only the admin may adopt an existing network namespace (netnsPath)")
	}
	return createThenGet[model.VPC](a, r, store.KindVPC, req.ClientToken, req.DryRun, req, func(t *store.Txn) (string, any, error) {
		if err := a.ownAccount(r, t); err != nil {
			return "", nil, err
		}
		v := model.VPC{VpcID: model.NewID(model.PrefixVPC), AccountID: callerOf(r).AccountID, Name: req.Name, Description: req.Description,
			CidrBlock: cidr, NetnsPath: req.NetnsPath, Status: model.StatusAvailable, CreateTime: now(), Tagging: tagging}
		if v.VNI, err = a.st.AllocVNI(r.Context(), t, v.VpcID); err != nil {
			return "", nil, err
		}
		if err := a.setVPCIPv6(r.Context(), t, &v, v6, autoV6); err != nil {
			return "", nil, err
		}
		return v.VpcID, v, nil
	})
}

// deleteVPC refuses while anything lives in the VPC; whatever is created
// in it meanwhile rewrites the VPC and so makes the delete fail. Its VNI
// is freed with it (the counter never goes back, so it is not reused soon).
func (a *API) deleteVPC(r *http.Request, v *model.VPC, t *store.Txn) error {
	id := v.VpcID
	if v.VNI != 0 {
		t.Delete(a.st.VNIKey(v.VNI))
	}
	if v.Ipv6CidrBlock.IsValid() {
		t.Delete(a.st.IPv6CIDRKey(v.Ipv6CidrBlock, id))
	}
	st, err := a.st.ReadState(r.Context(), store.KindVSwitch, store.KindSG, store.KindService)
	if err != nil {
		return err
	}
	for _, x := range st.VSwitches {
		if x.VpcID == id {
			return dependency(store.KindVPC, id, "vSwitch "+x.VSwitchID)
		}
	}
	for _, x := range st.SGs {
		if x.VpcID == id {
			return dependency(store.KindVPC, id, "security group "+x.SecurityGroupID)
		}
	}
	for _, x := range st.Services {
		if x.VpcID == id {
			return dependency(store.KindVPC, id, "endpoint service "+x.ServiceID)
		}
	}
	lbs, err := store.List[model.LoadBalancer](r.Context(), a.st, a.st.KindPrefix(store.KindLB))
	if err != nil {
		return err
	}
	for _, x := range lbs {
		if x.VpcID == id {
			return dependency(store.KindVPC, id, "load balancer "+x.LoadBalancerID)
		}
	}
	return nil
}

func (a *API) createVSwitch(r *http.Request, req api.CreateVSwitchRequest) (any, error) {
	tagging, err := newTagging(req.Tags, req.ResourceGroupID)
	if err != nil {
		return nil, err
	}
	if err := a.checkZone("ZoneId", req.ZoneID); err != nil {
		return nil, err
	}
	cidr, err := model.ParseCIDR("CidrBlock", req.CidrBlock)
	if err != nil {
		return nil, err
	}
	build := a.inParentVPC(r, req.VpcID, func(t *store.Txn, vpc model.VPC) (string, any, error) {
		if !model.Contains(vpc.CidrBlock, cidr) {
			return "", nil, model.Invalid("CidrBlock", "vSwitch CIDR %s must lie inside the VPC CIDR %s", cidr, vpc.CidrBlock)
		}
		sibs, err := listOwned(a, r, store.KindVSwitch, func(x model.VSwitch) bool { return x.VpcID == vpc.VpcID })
		if err != nil {
			return "", nil, err
		}
		if err := a.checkPerScope(r, "vSwitchesPerVpc", len(sibs), "VPC "+vpc.VpcID); err != nil {
			return "", nil, err
		}
		for _, s := range sibs {
			if model.Overlaps(s.CidrBlock, cidr) {
				return "", nil, model.Invalid("CidrBlock", "vSwitch CIDR %s overlaps %s (%s) in the same VPC", cidr, s.CidrBlock, s.VSwitchID)
			}
		}
		v := model.VSwitch{VSwitchID: model.NewID(model.PrefixVSwitch), AccountID: vpc.AccountID, VpcID: vpc.VpcID,
			ZoneID: req.ZoneID, Name: req.Name, CidrBlock: cidr, Gateway: model.Gateway(cidr),
			Status: model.StatusAvailable, CreateTime: now(), Tagging: tagging}
		if err := setVSwitchIPv6(&v, vpc, sibs, req); err != nil {
			return "", nil, err
		}
		return v.VSwitchID, v, nil
	})
	return createThenGet[model.VSwitch](a, r, store.KindVSwitch, req.ClientToken, req.DryRun, req, build)
}

// deleteVSwitch refuses while an address of it is allocated.
func (a *API) deleteVSwitch(r *http.Request, v *model.VSwitch, t *store.Txn) error {
	n, err := a.st.Count(r.Context(), a.st.IPAMPrefix(v.VSwitchID))
	if err != nil {
		return err
	}
	if n > 0 {
		return dependency(store.KindVSwitch, v.VSwitchID, "hosts or endpoint ENIs")
	}
	t.NoneUnder(a.st.IPAMPrefix(v.VSwitchID))
	a.hints.forget(v.VSwitchID)
	return nil
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
