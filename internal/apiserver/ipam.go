package apiserver

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// ipamKey is the key that holds an address of a vSwitch; its existence is
// the allocation, and transactions create it only when absent.
func (a *API) ipamKey(vswID string, ip netip.Addr) string {
	return a.st.Key(store.KindIPAM, vswID, ip.String())
}

// allocator hands out addresses of one vSwitch within one request.
type allocator struct {
	prefix netip.Prefix
	used   map[netip.Addr]bool
	next   netip.Addr
}

func (a *API) newAllocator(ctx context.Context, vsw model.VSwitch) (*allocator, error) {
	p := netip.MustParsePrefix(vsw.CidrBlock)
	resp, err := a.st.Client().Get(ctx, a.st.Key(store.KindIPAM, vsw.VSwitchID)+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, internal("list ipam of %s: %w", vsw.VSwitchID, err)
	}
	al := &allocator{prefix: p, used: map[netip.Addr]bool{}, next: p.Addr()}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		if ip, err := netip.ParseAddr(k[strings.LastIndexByte(k, '/')+1:]); err == nil {
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
		if model.Reserved(al.prefix, ip) {
			return ip, model.Invalid(field, "IP %s is reserved (network, gateway or broadcast address of %s)", ip, al.prefix)
		}
		if al.used[ip] {
			return ip, model.Errorf(http.StatusConflict, "InvalidIpAddress.AlreadyUsed", "IP %s is already in use in %s", ip, al.prefix)
		}
		al.used[ip] = true
		return ip, nil
	}
	for cand := al.next; al.prefix.Contains(cand); cand = cand.Next() {
		if model.Reserved(al.prefix, cand) || al.used[cand] {
			continue
		}
		al.used[cand] = true
		al.next = cand.Next()
		return cand, nil
	}
	return ip, model.Errorf(http.StatusConflict, "QuotaExceeded.PrivateIpAddress", "vSwitch CIDR %s has no free address left", al.prefix)
}

// claim returns the compare and put that allocate ip to owner atomically.
func (a *API) claim(vswID string, ip netip.Addr, owner string) (clientv3.Cmp, clientv3.Op) {
	k := a.ipamKey(vswID, ip)
	return clientv3.Compare(clientv3.CreateRevision(k), "=", 0), clientv3.OpPut(k, owner)
}
