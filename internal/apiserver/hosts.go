package apiserver

import (
	"net/http"
	"net/netip"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

func (a *API) createHost(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.CreateHostRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := model.ValidateName("HostName", req.Name, true); err != nil {
		return nil, err
	}
	var want netip.Addr
	if req.IP != "" {
		ip, err := netip.ParseAddr(req.IP)
		if err != nil || !ip.Is4() {
			return nil, model.Invalid("PrivateIpAddress", "%q is not an IPv4 address", req.IP)
		}
		want = ip
	}
	build := func() (*plan, error) {
		vsw, _, err := getOwned(a, r, store.KindVSwitch, "VSwitch", req.VSwitchID, vswOwner)
		if err != nil {
			return nil, err
		}
		vpcKey := a.st.Key(store.KindVPC, vsw.VpcID)
		vpc, vrev, err := store.Get[model.VPC](r.Context(), a.st, vpcKey)
		if err != nil {
			return nil, err
		}
		al, err := a.newAllocator(r.Context(), vsw)
		if err != nil {
			return nil, err
		}
		ip, err := al.take("PrivateIpAddress", want)
		if err != nil {
			return nil, err
		}
		h := model.Host{HostID: model.NewID(model.PrefixHost), AccountID: vsw.AccountID, Name: req.Name, VpcID: vsw.VpcID,
			VSwitchID: vsw.VSwitchID, ZoneID: vsw.ZoneID, IP: ip.String(), Status: "Running", CreateTime: now()}
		c1, o1 := a.claim(vsw.VSwitchID, ip, h.HostID)
		c2, o2 := touch(vpcKey, vrev, vpc)
		return &plan{id: h.HostID, value: h, cmps: []clientv3.Cmp{c1, c2, a.exists(store.KindVSwitch, vsw.VSwitchID)}, ops: []clientv3.Op{o1, o2}}, nil
	}
	return createThenGet(a, r, store.KindHost, "Host", req.ClientToken, req.DryRun, req, build, hostOwner)
}

func (a *API) getHost(w http.ResponseWriter, r *http.Request) (any, error) {
	v, _, err := getOwned(a, r, store.KindHost, "Host", r.PathValue("id"), hostOwner)
	return v, err
}

func (a *API) listHosts(w http.ResponseWriter, r *http.Request) (any, error) {
	vpc := r.URL.Query().Get("vpcId")
	items, err := listOwned(a, r, store.KindHost, hostOwner, func(v model.Host) bool { return vpc == "" || v.VpcID == vpc })
	if err != nil {
		return nil, err
	}
	return paginate(r, items, func(v model.Host) string { return v.HostID })
}

func (a *API) deleteHost(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	h, rev, err := getOwned(a, r, store.KindHost, "Host", id, hostOwner)
	if err != nil {
		return nil, err
	}
	key := a.st.Key(store.KindHost, id)
	ip := netip.MustParseAddr(h.IP)
	if err := a.deleteIf(r, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)},
		clientv3.OpDelete(key), clientv3.OpDelete(a.ipamKey(h.VSwitchID, ip))); err != nil {
		return nil, err
	}
	return h, nil
}
