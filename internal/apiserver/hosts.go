package apiserver

import (
	"net/http"
	"net/netip"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

func (a *API) createHost(r *http.Request, req api.CreateHostRequest) (any, error) {
	var want netip.Addr
	if req.IP != "" {
		ip, err := netip.ParseAddr(req.IP)
		if err != nil || !ip.Is4() {
			return nil, model.Invalid("PrivateIpAddress", "%q is not an IPv4 address", req.IP)
		}
		want = ip
	}
	want6, err := model.ParseHostIPv6(req.Ipv6Address)
	if err != nil {
		return nil, err
	}
	build := func(t *store.Txn) (string, any, error) {
		vsw, _, err := getOwned[model.VSwitch](a, r, store.KindVSwitch, req.VSwitchID)
		if err != nil {
			return "", nil, err
		}
		if _, err := a.parentVPC(r, t, vsw.VpcID); err != nil {
			return "", nil, err
		}
		node, err := a.placeHost(r.Context(), t, vsw.ZoneID, req.NodeName)
		if err != nil {
			return "", nil, err
		}
		al, err := a.newAllocator(r.Context(), vsw)
		if err != nil {
			return "", nil, err
		}
		ip, err := al.take("PrivateIpAddress", want)
		if err != nil {
			return "", nil, err
		}
		h := model.Host{HostID: model.NewID(model.PrefixHost), AccountID: vsw.AccountID, Name: req.Name, VpcID: vsw.VpcID,
			VSwitchID: vsw.VSwitchID, ZoneID: vsw.ZoneID, IP: ip, NodeName: node, Status: "Running", CreateTime: now()}
		a.claim(t, vsw.VSwitchID, ip, h.HostID)
		if h.Ipv6Address, err = a.takeHostIPv6(r.Context(), t, vsw, want6, h.HostID); err != nil {
			return "", nil, err
		}
		if node != "" {
			t.Index(a.st.HostNodeKey(node, h.HostID))
		}
		return h.HostID, h, nil
	}
	return createThenGet[model.Host](a, r, store.KindHost, req.ClientToken, req.DryRun, req, build)
}

// deleteHost releases the host's address and its node's index entry with it.
func (a *API) deleteHost(_ *http.Request, h *model.Host, t *store.Txn) error {
	t.Delete(a.st.IPAMKey(h.VSwitchID, h.IP))
	a.hints.release(h.VSwitchID, h.IP)
	if h.Ipv6Address.IsValid() {
		t.Delete(a.st.IPAMKey(h.VSwitchID, h.Ipv6Address))
	}
	if h.NodeName != "" {
		t.Delete(a.st.HostNodeKey(h.NodeName, h.HostID))
	}
	return nil
}
