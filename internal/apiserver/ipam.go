package apiserver

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/netip"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// allocator hands out addresses of one vSwitch within one request.
type allocator struct {
	prefix netip.Prefix
	used   map[netip.Addr]bool
	next   netip.Addr
	// reserved tells the addresses never handed out (model.Reserved, or
	// model.ReservedIPv6 for a vSwitch's /64).
	reserved func(netip.Prefix, netip.Addr) bool
}

func (a *API) newAllocator(ctx context.Context, vsw model.VSwitch) (*allocator, error) {
	used, err := a.st.Keys(ctx, a.st.IPAMPrefix(vsw.VSwitchID))
	if err != nil {
		return nil, err
	}
	al := &allocator{prefix: vsw.CidrBlock, used: map[netip.Addr]bool{}, next: vsw.CidrBlock.Addr(), reserved: model.Reserved}
	for _, k := range used {
		if ip, err := netip.ParseAddr(k); err == nil {
			al.used[ip] = true
		}
	}
	return al, nil
}

// take reserves a chosen address, or the lowest free one when ip is invalid.
func (al *allocator) take(field string, ip netip.Addr) (netip.Addr, error) {
	if ip.IsValid() {
		if !al.prefix.Contains(ip) {
			return ip, model.Invalid(field, "IP %s is not inside the vSwitch CIDR %s", ip, al.prefix)
		}
		if al.reserved(al.prefix, ip) {
			return ip, model.Invalid(field, "IP %s is reserved (network, gateway or broadcast address of %s)", ip, al.prefix)
		}
		if al.used[ip] {
			return ip, model.Errorf(http.StatusConflict, "InvalidIpAddress.AlreadyUsed", "IP %s is already in use in %s", ip, al.prefix)
		}
		al.used[ip] = true
		return ip, nil
	}
	for cand := al.next; al.prefix.Contains(cand); cand = cand.Next() {
		if al.reserved(al.prefix, cand) || al.used[cand] {
			continue
		}
		al.used[cand] = true
		al.next = cand.Next()
		return cand, nil
	}
	return ip, model.Errorf(http.StatusConflict, "QuotaExceeded.PrivateIpAddress", "vSwitch CIDR %s has no free address left", al.prefix)
}

// claim allocates ip to owner in t, if the address is still free and the
// vSwitch still exists at commit time.
func (a *API) claim(t *store.Txn, vswID string, ip netip.Addr, owner string) {
	t.Claim(a.st.IPAMKey(vswID, ip), owner).Exists(a.st.ResourceKey(store.KindVSwitch, vswID))
}

// snatAllocator hands out kernel NAT source addresses (model.SNATPool)
// from a random place in the pool, without reading the allocations: the
// claim in the transaction is what makes an address unique, and a claim
// that loses (the address is taken) fails the transaction, which the
// store retries with a new random start (at 10,000 endpoint zones, a
// third of the pool, a start collides about one time in three). Reading
// every allocation instead made each endpoint create O(allocations).
func (a *API) snatAllocator(_ *http.Request) (*allocator, error) {
	n := model.SNATPool.Addr().As4()
	base := uint32(n[0])<<24 | uint32(n[1])<<16 | uint32(n[2])<<8 | uint32(n[3])
	size := uint32(1) << (32 - model.SNATPool.Bits())
	off := 1 + rand.Uint32N(size-2-api.MaxZonesPerEndpoint) // leave room for one endpoint's zones
	v := base + off
	start := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return &allocator{prefix: model.SNATPool, used: map[netip.Addr]bool{}, next: start,
		reserved: func(netip.Prefix, netip.Addr) bool { return false }}, nil
}

// claimSNAT takes an endpoint zone's kernel NAT source address (the lowest
// free one) and claims it in t for the zone's ENI: stable for the zone's
// life, whatever its service's forwarding mode.
func (a *API) claimSNAT(al *allocator, t *store.Txn, eniID string) (netip.Addr, error) {
	ip, err := al.take("SnatIp", netip.Addr{})
	if err != nil {
		return ip, model.Errorf(http.StatusConflict, "QuotaExceeded.SnatIpAddress", "no free SNAT address left in %s", model.SNATPool)
	}
	t.Claim(a.st.IPAMKey(model.SNATPoolKey, ip), eniID)
	return ip, nil
}
