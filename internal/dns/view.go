package dns

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// compiledSnapshot is the query-time form of a Snapshot. Its table of
// views is never modified (a VPC that gains its first view gets a new
// table); each view is patched in place under its own lock (PatchView),
// so a change of one name copies that name, not the view or the others.
type compiledSnapshot struct {
	revision int64
	serial   uint32
	loaded   time.Time
	views    map[string]*view
}

// view is one VPC's records. Readers take mu for reading; PatchView
// writes under it. The address slices are never modified once stored.
type view struct {
	mu    sync.RWMutex
	names map[string][]netip.Addr // lower-case FQDN -> IPv4 addresses (deduplicated)
	// names6 are the IPv6 addresses (AAAA) of names; a name with only
	// IPv6 addresses is in names too, with none.
	names6 map[string][]netip.Addr
	// ents counts, per ancestor below the apex, the in-zone names under
	// it: an ancestor with a count and no records of its own is an empty
	// non-terminal (NODATA, not NXDOMAIN).
	ents map[string]int
}

func newView(size int) *view {
	return &view{names: make(map[string][]netip.Addr, size), names6: map[string][]netip.Addr{}, ents: map[string]int{}}
}

// lookup returns a name's addresses, whether it exists, and whether it is
// an empty non-terminal.
func (v *view) lookup(name string) (addrs, addrs6 []netip.Addr, exists, isENT bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	addrs, exists = v.names[name]
	addrs6 = v.names6[name]
	if !exists {
		isENT = v.ents[name] > 0
	}
	return addrs, addrs6, exists, isENT
}

// countENTs adds delta to the count of every ancestor of the in-zone name
// n below the apex (out-of-zone names answer exact matches only).
func (v *view) countENTs(zone, n string, delta int) {
	if !inZone(n, zone) {
		return
	}
	idx := mdns.Split(n)
	for _, i := range idx[1:] {
		anc := n[i:]
		if len(anc) <= len(zone) {
			break
		}
		if c := v.ents[anc] + delta; c > 0 {
			v.ents[anc] = c
		} else {
			delete(v.ents, anc)
		}
	}
}

type compileStats struct {
	names, skippedNames, skippedAddrs int
}

// serialFromRevision maps a store revision to an SOA serial. Revisions only
// grow, so keeping the low 32 bits keeps serials increasing in RFC 1982
// serial-number arithmetic even after the revision passes 2^32.
func serialFromRevision(rev int64) uint32 {
	if rev < 0 {
		return 0
	}
	return uint32(rev)
}

// normalizeName is the lookup form of a name (lower case, trailing dot),
// or false when it is not a domain name.
func normalizeName(name string) (string, bool) {
	n := strings.ToLower(mdns.Fqdn(name))
	_, ok := mdns.IsDomainName(n)
	return n, ok
}

// splitAddrs appends addrs to the IPv4 (a) and IPv6 (a6) lists, unmapping
// IPv4-mapped IPv6 and dropping zoned and invalid addresses (counted).
func splitAddrs(a, a6, addrs []netip.Addr, st *compileStats) ([]netip.Addr, []netip.Addr) {
	for _, ip := range addrs {
		ip = ip.Unmap()
		switch {
		case ip.Is4():
			a = append(a, ip)
		case ip.Is6() && ip.Zone() == "":
			a6 = append(a6, ip)
		default:
			st.skippedAddrs++
		}
	}
	return a, a6
}

// sortedSet sorts (unless sorted already, as the resolver gives them)
// and deduplicates a.
func sortedSet(a []netip.Addr) []netip.Addr {
	if !slices.IsSortedFunc(a, netip.Addr.Compare) {
		slices.SortFunc(a, netip.Addr.Compare)
	}
	return slices.Compact(a)
}

// compile turns snap into lookup tables: names are normalised (lower case,
// trailing dot), IPv4 addresses answer A and IPv6 ones AAAA, invalid and
// zoned ones are dropped (names outside the zone are
// kept: a VPC view may publish a service name such as
// com.privlink.cn-hangzhou.epsrv-x, answered for that exact name only),
// and empty non-terminals are precomputed so that lookups are O(1).
func compile(zone string, snap *Snapshot) (*compiledSnapshot, compileStats) {
	var st compileStats
	c := &compiledSnapshot{
		revision: snap.Revision,
		serial:   serialFromRevision(snap.Revision),
		loaded:   time.Now(),
		views:    make(map[string]*view, len(snap.Views)),
	}
	for vpcID, names := range snap.Views {
		v := newView(len(names))
		for name, addrs := range names {
			n, ok := normalizeName(name)
			if !ok {
				st.skippedNames++
				continue
			}
			a, a6 := splitAddrs(v.names[n], v.names6[n], addrs, &st) // two spellings of one name are merged
			v.names[n] = sortedSet(a)
			if len(a6) > 0 {
				v.names6[n] = sortedSet(a6)
			}
		}
		for n := range v.names {
			v.countENTs(zone, n, 1)
		}
		st.names += len(v.names)
		c.views[vpcID] = v
	}
	return c, st
}

// patch is the normalised form of one name's new records.
type patch struct {
	name  string
	del   bool
	a, a6 []netip.Addr
}

// compilePatch normalises PatchView's names outside any lock.
func compilePatch(names map[string][]netip.Addr) ([]patch, compileStats) {
	var st compileStats
	out := make([]patch, 0, len(names))
	for name, addrs := range names {
		n, ok := normalizeName(name)
		if !ok {
			st.skippedNames++
			continue
		}
		p := patch{name: n, del: len(addrs) == 0}
		if !p.del {
			a, a6 := splitAddrs(make([]netip.Addr, 0, len(addrs)), nil, addrs, &st)
			p.a, p.a6 = sortedSet(a), sortedSet(a6)
		}
		out = append(out, p)
	}
	return out, st
}

// apply sets or removes the patched names.
func (v *view) apply(zone string, ps []patch) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, p := range ps {
		_, existed := v.names[p.name]
		if p.del {
			if existed {
				delete(v.names, p.name)
				delete(v.names6, p.name)
				v.countENTs(zone, p.name, -1)
			}
			continue
		}
		if p.a == nil {
			p.a = []netip.Addr{}
		}
		v.names[p.name] = p.a
		if len(p.a6) > 0 {
			v.names6[p.name] = p.a6
		} else {
			delete(v.names6, p.name)
		}
		if !existed {
			v.countENTs(zone, p.name, 1)
		}
	}
}

// withView returns a copy of c's table of views with vpcID's added.
func (c *compiledSnapshot) withView(vpcID string, v *view) *compiledSnapshot {
	n := *c
	n.views = maps.Clone(c.views)
	n.views[vpcID] = v
	return &n
}
