package apiserver

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/netip"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// IPv6 dual-stack networks: a VPC's /56, its vSwitches' /64s, its hosts'
// second address (docs/architecture.md, IPv6).

// vpcIPv6Request reads what a request asks: a given /56, auto (a random
// ULA /56), or nothing.
func vpcIPv6Request(enable bool, cidr string) (given netip.Prefix, auto bool, err error) {
	if cidr != "" {
		p, err := model.ParseVPCIPv6CIDR(cidr)
		return p, false, err
	}
	return netip.Prefix{}, enable, nil
}

// setVPCIPv6 gives v its /56 in t: the given one (indexed, may be shared
// with other VPCs: their networks are apart) or a random one unique in
// the region (store.AllocIPv6CIDR).
func (a *API) setVPCIPv6(ctx context.Context, t *store.Txn, v *model.VPC, given netip.Prefix, auto bool) error {
	switch {
	case auto:
		p, err := a.st.AllocIPv6CIDR(ctx, t, v.VpcID, rand.Reader)
		if err != nil {
			return err
		}
		v.Ipv6CidrBlock = p
	case given.IsValid():
		a.st.AddIPv6CIDR(t, given, v.VpcID)
		v.Ipv6CidrBlock = given
	}
	return nil
}

// allocateVPCIPv6 gives an IPv4-only VPC its /56 (Alibaba's
// AllocateVpcIpv6Cidr). Its vSwitches stay IPv4 only until new ones are
// created with a /64.
func (a *API) allocateVPCIPv6(r *http.Request, req api.AllocateVpcIpv6CidrRequest) (any, error) {
	id := r.PathValue("id")
	given, _, err := vpcIPv6Request(true, req.Ipv6CidrBlock)
	if err != nil {
		return nil, err
	}
	if _, _, err := getOwned[model.VPC](a, r, store.KindVPC, id); err != nil {
		return nil, err
	}
	_, err = update(a, r, store.KindVPC, id, func(v *model.VPC, t *store.Txn) error {
		if v.AccountID != callerOf(r).AccountID {
			return model.NotFound(kindNames[store.KindVPC], id)
		}
		if v.Ipv6CidrBlock.IsValid() {
			return model.Errorf(http.StatusConflict, model.CodeIPv6Enabled, "VPC %s already has the IPv6 CIDR block %s", id, v.Ipv6CidrBlock)
		}
		return a.setVPCIPv6(r.Context(), t, v, given, !given.IsValid())
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, model.NotFound(kindNames[store.KindVPC], id)
	}
	if err != nil {
		return nil, err
	}
	v, _, err := getOwned[model.VPC](a, r, store.KindVPC, id)
	return v, err
}

// setVSwitchIPv6 gives v the /64 the request asks for (an index, or with
// enableIpv6 the lowest free one) out of its VPC's /56, unique among its
// siblings (the build is guarded by the VPC's revision, so two creates
// cannot both take one /64).
func setVSwitchIPv6(v *model.VSwitch, vpc model.VPC, sibs []model.VSwitch, req api.CreateVSwitchRequest) error {
	if req.Ipv6CidrBlock == nil && !req.EnableIpv6 {
		return nil
	}
	if !vpc.Ipv6CidrBlock.IsValid() {
		return model.Errorf(http.StatusBadRequest, model.CodeIPv6NotEnabled, "VPC %s has no IPv6 CIDR block: enable IPv6 on it first (AllocateVpcIpv6Cidr)", vpc.VpcID)
	}
	used := map[int]string{}
	for _, s := range sibs {
		if s.Ipv6CidrBlock.IsValid() {
			used[model.VSwitchIPv6Index(s.Ipv6CidrBlock)] = s.VSwitchID
		}
	}
	index := -1
	if req.Ipv6CidrBlock != nil {
		index = *req.Ipv6CidrBlock
		if _, err := model.VSwitchIPv6CIDR(vpc.Ipv6CidrBlock, index); err != nil {
			return err
		}
		if other, ok := used[index]; ok {
			return model.Errorf(http.StatusConflict, model.CodeIPv6Overlapped, "IPv6 /64 number %d of VPC %s is already vSwitch %s's", index, vpc.VpcID, other)
		}
	} else {
		for i := 0; i <= model.MaxVSwitchIPv6Index && index < 0; i++ {
			if _, ok := used[i]; !ok {
				index = i
			}
		}
		if index < 0 {
			return model.Errorf(http.StatusConflict, "QuotaExceeded.Ipv6CidrBlock", "every IPv6 /64 of VPC %s is taken", vpc.VpcID)
		}
	}
	p, _ := model.VSwitchIPv6CIDR(vpc.Ipv6CidrBlock, index)
	v.Ipv6CidrBlock, v.Ipv6Gateway = p, model.IPv6Gateway(p)
	return nil
}

// takeHostIPv6 allocates the host's IPv6 address in a dual-stack vSwitch
// (want, or the lowest free one) and claims it in t, like its IPv4 one.
func (a *API) takeHostIPv6(ctx context.Context, t *store.Txn, vsw model.VSwitch, want netip.Addr, owner string) (netip.Addr, error) {
	if !vsw.Ipv6CidrBlock.IsValid() {
		if want.IsValid() {
			return want, model.Errorf(http.StatusBadRequest, "InvalidVSwitch.Ipv6NotEnabled", "vSwitch %s has no IPv6 CIDR block", vsw.VSwitchID)
		}
		return netip.Addr{}, nil
	}
	al, err := a.newAllocator(ctx, vsw)
	if err != nil {
		return netip.Addr{}, err
	}
	al.prefix, al.next, al.reserved = vsw.Ipv6CidrBlock, vsw.Ipv6CidrBlock.Addr(), model.ReservedIPv6
	ip, err := al.take("Ipv6Address", want)
	if err != nil {
		return ip, err
	}
	a.claim(t, vsw.VSwitchID, ip, owner)
	return ip, nil
}
