package apiserver

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"sync"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// allocator hands out addresses of one vSwitch within one request. It
// reads the vSwitch's allocations lazily: an IPv4 address's /24 block
// (the keys ipam/<vSwitch>/a.b.c.) when it first looks at an address of
// it, and for IPv6 every allocation of the vSwitch once.
type allocator struct {
	prefix netip.Prefix
	used   map[netip.Addr]bool
	next   netip.Addr
	// reserved tells the addresses never handed out (model.Reserved, or
	// model.ReservedIPv6 for a vSwitch's /64).
	reserved func(netip.Prefix, netip.Addr) bool
	// load reads the allocations around an address into used (nil: used
	// is complete); taken is told each address the scan hands out.
	load  func(netip.Addr) error
	taken func(netip.Addr)
}

// newAllocator is the allocator of a vSwitch's addresses: the lowest free
// one from the vSwitch's low-water mark (ipamHints), reading only the /24
// blocks it looks at, so a create costs O(one block) however many
// addresses the vSwitch holds.
func (a *API) newAllocator(ctx context.Context, vsw model.VSwitch) (*allocator, error) {
	al := &allocator{prefix: vsw.CidrBlock, used: map[netip.Addr]bool{}, next: vsw.CidrBlock.Addr(), reserved: model.Reserved}
	if h := a.hints.low(vsw.VSwitchID); h.IsValid() && vsw.CidrBlock.Contains(h) {
		al.next = h
	}
	al.load = a.blockLoader(ctx, vsw.VSwitchID, al.used)
	al.taken = func(ip netip.Addr) { a.hints.raise(vsw.VSwitchID, ip) }
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
		if err := al.loadAround(ip); err != nil {
			return ip, err
		}
		if al.used[ip] {
			return ip, model.Errorf(http.StatusConflict, "InvalidIpAddress.AlreadyUsed", "IP %s is already in use in %s", ip, al.prefix)
		}
		al.used[ip] = true
		return ip, nil
	}
	for cand := al.next; al.prefix.Contains(cand); cand = cand.Next() {
		if err := al.loadAround(cand); err != nil {
			return ip, err
		}
		if al.reserved(al.prefix, cand) || al.used[cand] {
			continue
		}
		al.used[cand] = true
		al.next = cand.Next()
		if al.taken != nil {
			al.taken(cand)
		}
		return cand, nil
	}
	return ip, model.Errorf(http.StatusConflict, "QuotaExceeded.PrivateIpAddress", "vSwitch CIDR %s has no free address left", al.prefix)
}

func (al *allocator) loadAround(ip netip.Addr) error {
	if al.load == nil {
		return nil
	}
	return al.load(ip)
}

// ipamHints keeps, per vSwitch, the low-water mark of its IPv4
// allocations as this server saw them: every address below it was taken
// when last read. A scan for the lowest free address starts there
// instead of reading every allocation of the vSwitch; a release through
// this server lowers it. It is a hint only: the claim in the create's
// transaction is what makes an address unique, and an address another
// API server released below the mark is handed out again once this
// server restarts (the lowest free address is then as this server knows).
type ipamHints struct {
	mu    sync.Mutex
	marks map[string]netip.Addr
}

// low returns the mark of a vSwitch (invalid: none).
func (h *ipamHints) low(vswID string) netip.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.marks[vswID]
}

// raise moves the mark of a vSwitch up to ip (an address the scan found
// free after every one below it was taken).
func (h *ipamHints) raise(vswID string, ip netip.Addr) {
	if !ip.Is4() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.marks == nil {
		h.marks = map[string]netip.Addr{}
	}
	if cur, ok := h.marks[vswID]; !ok || cur.Less(ip) {
		h.marks[vswID] = ip
	}
}

// release lowers the mark of a vSwitch to ip, an address being freed.
func (h *ipamHints) release(vswID string, ip netip.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur, ok := h.marks[vswID]; ok && ip.Is4() && ip.Less(cur) {
		h.marks[vswID] = ip
	}
}

// forget drops the mark of a deleted vSwitch.
func (h *ipamHints) forget(vswID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.marks, vswID)
}

// blockLoader reads the allocations of pool (a vSwitch, or the SNAT pool)
// one block at a time into an allocator's used set: an IPv4 address's /24
// (the keys ipam/<pool>/a.b.c.), and for IPv6 every allocation of the pool
// once.
func (a *API) blockLoader(ctx context.Context, pool string, used map[netip.Addr]bool) func(netip.Addr) error {
	loaded := map[string]bool{}
	return func(ip netip.Addr) error {
		block := "" // IPv6: the whole pool
		if ip.Is4() {
			b := ip.As4()
			block = strconv.Itoa(int(b[0])) + "." + strconv.Itoa(int(b[1])) + "." + strconv.Itoa(int(b[2])) + "."
		}
		if loaded[block] {
			return nil
		}
		keys, err := a.st.Keys(ctx, a.st.IPAMPrefix(pool)+block)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if ip, err := netip.ParseAddr(k); err == nil {
				used[ip] = true
			}
		}
		loaded[block] = true
		return nil
	}
}

// claim allocates ip to owner in t, if the address is still free and the
// vSwitch still exists at commit time.
func (a *API) claim(t *store.Txn, vswID string, ip netip.Addr, owner string) {
	t.Claim(a.st.IPAMKey(vswID, ip), owner).Exists(a.st.ResourceKey(store.KindVSwitch, vswID))
}

// snatAllocator hands out kernel NAT source addresses (model.SNATPool)
// from a random place in the pool, reading only the /24 block it lands in
// (at 10,000 endpoint zones, a third of the pool, a random start is taken
// about one time in three; without the read each of those lost its
// commit and retried). The claim in the transaction is still what makes
// an address unique. Reading every allocation instead made each endpoint
// create O(allocations).
func (a *API) snatAllocator(r *http.Request) *allocator {
	n := model.SNATPool.Addr().As4()
	base := uint32(n[0])<<24 | uint32(n[1])<<16 | uint32(n[2])<<8 | uint32(n[3])
	size := uint32(1) << (32 - model.SNATPool.Bits())
	off := 1 + rand.Uint32N(size-2-api.MaxZonesPerEndpoint) // leave room for one endpoint's zones
	v := base + off
	start := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	al := &allocator{prefix: model.SNATPool, used: map[netip.Addr]bool{}, next: start,
		reserved: func(netip.Prefix, netip.Addr) bool { return false }}
	al.load = a.blockLoader(r.Context(), model.SNATPoolKey, al.used)
	return al
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
