package agent

import (
	"encoding/base32"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/knat"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/proxy"
)

// natHub holds the process's kernel NAT pairs (internal/knat): one per
// (consumer VPC, provider VPC), shared by the zone agents of the process,
// since a VPC's router namespace is one per machine whatever the zone.
// Each agent sets its share of the flows; a pair carries the union of the
// shares and is closed when its last flow goes.
type natHub struct {
	mu     sync.Mutex
	pairs  map[pairKey]*natPair
	shares map[*Agent]map[string]natFlow // by flow ID
	swept  map[string]bool               // namespace paths swept of leftovers
	slots  map[int]pairKey               // link /30 slots in use
}

// defaultHub serves every agent of the process.
var defaultHub = &natHub{pairs: map[pairKey]*natPair{}, shares: map[*Agent]map[string]natFlow{}, swept: map[string]bool{}, slots: map[int]pairKey{}}

// pairKey is a pair of one machine: its two VPC IDs and the files of the
// two router namespaces (a node's VPC copies; the node agents of a lab
// share one process, each with its own copies).
type pairKey struct {
	Consumer, Provider string // VPC IDs
	CPath, PPath       string // router namespace files
}

// natFlow is one endpoint zone port forwarded by kernel NAT.
type natFlow struct {
	owner          *Agent // whose share it is (set by natHub.set)
	pair           pairKey
	cPath, pPath   string // router namespace paths
	endpoint, zone string
	flow           knat.Flow
}

type natPair struct {
	id     string
	key    pairKey
	slot   int
	p      *knat.Pair
	flows  map[string]natFlow    // as last applied
	srcs   map[netip.Addr]int    // flows per SNAT source
	routes map[netip.Addr]bool   // SNAT sources routed over the link
	stale  map[netip.Addr]bool   // sources whose route may not match srcs
	last   map[string]knat.Stats // counters at the last stats read
	told   map[string]bool       // flows whose endpoint's figures were handed out
	seen   map[*Agent]time.Time  // the reading each owner folded in last
	snap   map[string]knat.Stats // the pair's last reading (natStatsEvery)
	snapAt time.Time
	// reading is true while a reading runs in the background (readStats).
	reading bool
}

// natStatsEvery bounds how often a pair's counters and conntrack table
// are read: agents reconcile after every change, and each read dumps
// every counter object and the whole conntrack table of the consumer
// VPC (with many endpoints being created that was a third of the
// process's CPU; docs/benchmarks.md, scale). Between reads the last
// reading is used again, so the metrics lag by at most this much and no
// count is lost (deltas are taken against the last reading used).
const natStatsEvery = time.Second

// linkBase is where the pairs' /30 links come from: the lower half of
// knat.Reserved (model.SNATPool is the upper half).
var linkBase = netip.MustParseAddr("100.127.0.0")

const linkSlots = 1 << 13 // /30s in a /17

// pairID names a pair on the node: 10 base32 characters of a hash of its
// two VPC IDs (knat.Config.ID).
func pairID(k pairKey) string {
	h := fnv.New64a()
	h.Write([]byte(k.Consumer + "|" + k.Provider))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)))[:10]
}

func slotPrefix(slot int) netip.Prefix {
	b := linkBase.As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) + uint32(slot)*4
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), 30)
}

// set replaces owner's share of the flows and brings every pair to the
// union of the shares. Each pair changes only the flows that differ from
// what it has applied (knat.Pair.Change): a round after one endpoint
// changed programs that endpoint's flows only, whatever the number of
// flows (with 5,000 nat endpoints, handing every pair its whole set each
// round was 10% of the server's CPU while endpoints were being created;
// docs/benchmarks.md, scale). It returns errors by endpoint ID.
func (h *natHub) set(owner *Agent, flows map[string]natFlow, log *slog.Logger) map[string]error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(flows) == 0 {
		delete(h.shares, owner)
	} else {
		h.shares[owner] = flows
	}
	changes := map[pairKey]*hubChange{}
	at := func(k pairKey) *hubChange { return changeAt(changes, k) }
	wanted := map[pairKey]bool{}
	for id, f := range flows {
		wanted[f.pair] = true
		if np := h.pairs[f.pair]; np != nil {
			if cur, ok := np.flows[id]; ok && cur.owner == owner && sameFlow(cur.flow, f.flow) {
				continue
			}
		}
		f.owner = owner
		at(f.pair).set = append(at(f.pair).set, f)
	}
	for k, np := range h.pairs {
		for id, f := range np.flows {
			if f.owner != owner && (f.owner != nil || !owner.zoneFlow(id) || !owner.ownsPair(k)) {
				continue
			}
			if nf, ok := flows[id]; !ok || nf.pair != k {
				at(k).remove = append(at(k).remove, id)
			}
		}
	}
	return h.program(changes, wanted, log)
}

// hubChange is what one call changes in one pair.
type hubChange struct {
	set    []natFlow
	remove []string
}

func changeAt(changes map[pairKey]*hubChange, k pairKey) *hubChange {
	c := changes[k]
	if c == nil {
		c = &hubChange{}
		changes[k] = c
	}
	return c
}

// patch changes owner's share by set (flows added or replaced) and remove
// (flow IDs), the rest of the share staying as it is, and brings the pairs
// to it: set's work for a change, in proportion to the change rather than
// to the share (applyNAT's rounds after the first; at 3,000 nat endpoints
// handing the whole share to set and comparing it every round was about a
// tenth of the server's CPU while endpoints were created). A flow of set
// the pair already has as is costs nothing. It returns errors by endpoint
// ID; the caller hands failed flows again at its next round.
func (h *natHub) patch(owner *Agent, set []natFlow, remove []string, log *slog.Logger) map[string]error {
	h.mu.Lock()
	defer h.mu.Unlock()
	share := h.shares[owner]
	if share == nil {
		share = map[string]natFlow{}
		h.shares[owner] = share
	}
	changes := map[pairKey]*hubChange{}
	wanted := map[pairKey]bool{}
	drop := func(id string, f natFlow) {
		if np := h.pairs[f.pair]; np != nil {
			if cur, ok := np.flows[id]; ok && (cur.owner == owner || cur.owner == nil) {
				changeAt(changes, f.pair).remove = append(changeAt(changes, f.pair).remove, id)
			}
		}
	}
	for _, id := range remove {
		if f, ok := share[id]; ok {
			delete(share, id)
			drop(id, f)
		}
	}
	for _, f := range set {
		id := f.flow.ID
		if old, ok := share[id]; ok && old.pair != f.pair {
			drop(id, old)
		}
		f.owner = owner
		share[id] = f
		wanted[f.pair] = true
		if np := h.pairs[f.pair]; np != nil {
			if cur, ok := np.flows[id]; ok && cur.owner == owner && sameFlow(cur.flow, f.flow) {
				continue
			}
		}
		changeAt(changes, f.pair).set = append(changeAt(changes, f.pair).set, f)
	}
	if len(share) == 0 {
		delete(h.shares, owner)
	}
	return h.program(changes, wanted, log)
}

// program applies changes pair by pair (opening pairs that do not exist
// yet), keeps the SNAT routes and closes the pairs left without flows
// that no flow of the caller wants.
func (h *natHub) program(changes map[pairKey]*hubChange, wanted map[pairKey]bool, log *slog.Logger) map[string]error {
	errs := map[string]error{}
	for k, c := range changes {
		np := h.pairs[k]
		if np == nil {
			if len(c.set) == 0 {
				continue
			}
			var err error
			if np, err = h.open(k, c.set[0], log); err != nil {
				log.Error("open kernel NAT pair", "consumerVpc", k.Consumer, "providerVpc", k.Provider, "err", err)
				for _, f := range c.set {
					errs[f.endpoint] = err
				}
				continue
			}
		}
		if err := np.change(c.set, c.remove); err != nil {
			log.Error("apply kernel NAT flows", "pair", np.id, "set", len(c.set), "remove", len(c.remove), "err", err)
			for _, f := range c.set {
				errs[f.endpoint] = err
			}
			continue
		}
		log.Info("kernel NAT flows applied", "pair", np.id, "consumerVpc", k.Consumer, "providerVpc", k.Provider,
			"set", len(c.set), "removed", len(c.remove), "flows", len(np.flows))
	}
	for k, np := range h.pairs {
		if len(np.stale) > 0 && changes[k] == nil {
			if err := np.syncRoutes(); err != nil {
				log.Warn("route kernel NAT sources", "pair", np.id, "err", err)
			}
		}
		if len(np.flows) > 0 || wanted[k] {
			continue
		}
		if err := np.p.Close(); err != nil {
			log.Warn("close kernel NAT pair", "pair", np.id, "err", err)
		}
		delete(h.slots, np.slot)
		delete(h.pairs, k)
		log.Info("kernel NAT pair closed", "pair", np.id, "consumerVpc", k.Consumer, "providerVpc", k.Provider)
	}
	return errs
}

func sameFlow(a, b knat.Flow) bool {
	if a.ID != b.ID || a.ENI != b.ENI || a.SNAT != b.SNAT || a.RateBytes != b.RateBytes || len(a.Backends) != len(b.Backends) || len(a.SG) != len(b.SG) {
		return false
	}
	// A flow the agent reused from its last round (natFlowMemo) shares its
	// slices: equal without looking at every rule.
	return sameElems(a.Backends, b.Backends) && sameElems(a.SG, b.SG)
}

func sameElems[T comparable](a, b []T) bool {
	if len(a) == len(b) && len(a) > 0 && &a[0] == &b[0] {
		return true
	}
	return slices.Equal(a, b)
}

// open opens (or takes over) the pair of k on a free link slot.
func (h *natHub) open(k pairKey, any natFlow, log *slog.Logger) (*natPair, error) {
	id := pairID(k)
	hs := fnv.New32a()
	hs.Write([]byte(id))
	slot := int(hs.Sum32() % linkSlots)
	for n := 0; ; n++ {
		if n == linkSlots {
			return nil, errors.New("no free kernel NAT link left")
		}
		if _, used := h.slots[slot]; !used {
			break
		}
		slot = (slot + 1) % linkSlots
	}
	p, err := knat.Open(knat.Config{ID: id, ConsumerNS: any.cPath, ProviderNS: any.pPath, Link: slotPrefix(slot), SNAT: model.SNATPool, Log: log})
	if err != nil {
		return nil, err
	}
	// A reset the kernel sends for a cut connection leaves through the
	// vSwitch bridge; with br_netfilter calling the IP hooks for bridged
	// frames it is lost (the client of a connection a security group
	// change cut got no reset: TestNATSecurityGroups). The VPC routers
	// filter routed traffic only.
	for _, path := range []string{any.cPath, any.pPath} {
		if err := bridgeNFOff(path); err != nil {
			log.Warn("turn off bridge netfilter in a VPC router", "netns", path, "err", err)
		}
	}
	np := &natPair{id: id, key: k, slot: slot, p: p, flows: map[string]natFlow{}, srcs: map[netip.Addr]int{},
		routes: map[netip.Addr]bool{}, stale: map[netip.Addr]bool{}, last: map[string]knat.Stats{},
		told: map[string]bool{}, seen: map[*Agent]time.Time{}}
	if n := p.Adopted(); n > 0 {
		np.adopt(log)
	}
	h.slots[slot] = k
	h.pairs[k] = np
	log.Info("kernel NAT pair open", "pair", id, "consumerVpc", k.Consumer, "providerVpc", k.Provider, "link", slotPrefix(slot))
	return np, nil
}

// adopt takes in the flows a previous process left in the pair (knat
// adoption) as orphans: each agent claims its own in its next round (same
// fingerprint: nothing is reprogrammed) and removes those of its zone it
// no longer wants. What their counters hold was counted by that process;
// the SNAT sources routed over the link stay routed.
func (np *natPair) adopt(log *slog.Logger) {
	for _, f := range np.p.Flows() {
		ep, _, _ := strings.Cut(f.ID, ":")
		np.flows[f.ID] = natFlow{pair: np.key, cPath: np.key.CPath, pPath: np.key.PPath, endpoint: ep, flow: f}
		np.srcs[f.SNAT]++
		np.stale[f.SNAT] = true
	}
	if st, err := np.p.Stats(); err == nil {
		np.last = st
		np.snap, np.snapAt = st, time.Now() // the round's stats use this reading
	}
	routed, err := np.routed()
	if err != nil {
		log.Warn("read kernel NAT source routes", "pair", np.id, "err", err)
	}
	for a := range routed {
		np.routes[a] = true
	}
	log.Info("kernel NAT pair adopted", "pair", np.id, "flows", len(np.flows), "routed", len(routed))
}

// routed lists the SNAT sources routed over the pair's link in the
// provider router (one route dump).
func (np *natPair) routed() (map[netip.Addr]bool, error) {
	ns, err := netns.GetFromPath(np.key.PPath)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, err
	}
	defer nh.Close()
	l, err := nh.LinkByName(knat.LinkName(np.id))
	if err != nil {
		return nil, err
	}
	rs, err := nh.RouteList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	gw := slotPrefix(np.slot).Addr().Next()
	out := map[netip.Addr]bool{}
	for _, r := range rs {
		if r.Dst == nil || r.Gw == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		g, ok2 := netip.AddrFromSlice(r.Gw)
		if ok && ok2 && ones == 32 && g.Unmap() == gw {
			out[a.Unmap()] = true
		}
	}
	return out, nil
}

// release lets go of owner's flows at its shutdown without withdrawing
// them: they stay in the kernel and keep forwarding, as orphans the next
// agent of the zone claims (Config.KeepKernelNAT). A pair left with
// orphans only is released (knat.Pair.Release: nothing in the kernel is
// touched) for the next process to adopt.
func (h *natHub) release(owner *Agent, log *slog.Logger) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.shares, owner)
	for k, np := range h.pairs {
		owned := false
		for id, f := range np.flows {
			if f.owner == owner {
				f.owner = nil
				np.flows[id] = f
			}
			owned = owned || f.owner != nil
		}
		if owned {
			continue
		}
		np.p.Release()
		delete(h.slots, np.slot)
		delete(h.pairs, k)
		log.Info("kernel NAT pair left in place", "pair", np.id, "consumerVpc", k.Consumer, "providerVpc", k.Provider, "flows", len(np.flows))
	}
}

// change programs a change of the pair's flows (set: added or replaced;
// remove: by ID) and keeps each SNAT source in use routed back over the
// link in the provider's router (one /32 each: several pairs share a
// provider router, each with its own consumers' sources).
func (np *natPair) change(set []natFlow, remove []string) error {
	fs := make([]knat.Flow, len(set))
	for i, f := range set {
		fs[i] = f.flow
	}
	if err := np.p.Change(fs, remove); err != nil {
		return err
	}
	for _, id := range remove {
		if f, ok := np.flows[id]; ok {
			np.unref(f.flow.SNAT)
			delete(np.flows, id)
		}
	}
	for _, f := range set {
		if old, ok := np.flows[f.flow.ID]; ok {
			np.unref(old.flow.SNAT)
		}
		np.flows[f.flow.ID] = f
		np.srcs[f.flow.SNAT]++
		np.stale[f.flow.SNAT] = true
	}
	return np.syncRoutes()
}

func (np *natPair) unref(a netip.Addr) {
	if np.srcs[a]--; np.srcs[a] <= 0 {
		delete(np.srcs, a)
	}
	np.stale[a] = true
}

// syncRoutes adds the routes of sources in use and deletes those of
// sources no longer used, for the sources whose flows changed (a failed
// route is retried at the next change).
func (np *natPair) syncRoutes() error {
	var missing, gone []netip.Addr
	for a := range np.stale {
		switch want := np.srcs[a] > 0; {
		case want && !np.routes[a]:
			missing = append(missing, a)
		case !want && np.routes[a]:
			gone = append(gone, a)
		default:
			delete(np.stale, a)
		}
	}
	if len(missing) == 0 && len(gone) == 0 {
		return nil
	}
	ns, err := netns.GetFromPath(np.key.PPath)
	if err != nil {
		return fmt.Errorf("open provider namespace: %w", err)
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in provider namespace: %w", err)
	}
	defer nh.Close()
	l, err := nh.LinkByName(knat.LinkName(np.id))
	if err != nil {
		return fmt.Errorf("find %s: %w", knat.LinkName(np.id), err)
	}
	gw := slotPrefix(np.slot).Addr().Next()
	// A source whose endpoint zone left the pair (its ENI moved to another
	// node, or the endpoint went) loses its route here, so the overlay's
	// route to the node now serving it takes over (docs/forwarding.md,
	// "Across nodes").
	for _, a := range gone {
		dst, _ := netlink.ParseIPNet(netip.PrefixFrom(a, 32).String())
		err := nh.RouteDel(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Gw: gw.AsSlice()})
		if err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete route %v via %v: %w", a, gw, err)
		}
		delete(np.routes, a)
		delete(np.stale, a)
	}
	for _, a := range missing {
		dst, _ := netlink.ParseIPNet(netip.PrefixFrom(a, 32).String())
		if err := nh.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Gw: gw.AsSlice()}); err != nil {
			return fmt.Errorf("route %v via %v: %w", a, gw, err)
		}
		np.routes[a] = true
		delete(np.stale, a)
	}
	return nil
}

// readStats reads a pair's counters and conntrack table in the
// background and keeps the reading for the owners' next rounds: at 10,000
// flows a reading takes about a second, and made in the round it delayed
// every change that arrived meanwhile (create → first traffic p99 1.8 s
// with 10,000 endpoints; docs/benchmarks.md, scale).
func (h *natHub) readStats(np *natPair) {
	st, err := np.p.Stats()
	h.mu.Lock()
	defer h.mu.Unlock()
	np.reading = false
	if err == nil {
		np.snap, np.snapAt = st, time.Now()
	}
}

// stats returns, by endpoint, what owner's flows did since the last call:
// only endpoints whose figures moved (or seen for the first time, so that
// their series exist), and nothing for a pair whose reading owner already
// folded in (between readings there is nothing new; calling the metrics
// for every endpoint at every round was O(endpoints) per change).
// A reading that is due starts in the background (readStats); until it
// lands the last one is used.
func (h *natHub) stats(owner *Agent) map[string]proxy.NATDelta {
	h.mu.Lock()
	defer h.mu.Unlock()
	share := h.shares[owner]
	out := map[string]proxy.NATDelta{}
	changed := map[string]bool{}
	for _, np := range h.pairs {
		mine := false
		for _, f := range np.flows {
			if f.owner == owner {
				mine = true
				break
			}
		}
		if !mine {
			continue
		}
		if !np.reading && (np.snap == nil || time.Since(np.snapAt) >= np.statsEvery()) {
			np.reading = true
			go h.readStats(np)
		}
		if np.snap == nil || np.seen[owner].Equal(np.snapAt) {
			continue
		}
		np.seen[owner] = np.snapAt
		st := np.snap
		for id, s := range st {
			f, ok := share[id]
			if !ok {
				continue
			}
			prev, had := np.last[id]
			np.last[id] = s
			d := out[f.endpoint]
			d.BytesIn += delta(s.BytesOut, prev.BytesOut)
			d.BytesOut += delta(s.BytesIn, prev.BytesIn)
			d.NewConns += delta(s.NewConns, prev.NewConns)
			d.Rejects += delta(s.Rejects, prev.Rejects)
			d.Active += s.Active
			out[f.endpoint] = d
			if !had || s != prev || !np.told[id] {
				changed[f.endpoint] = true
			}
			np.told[id] = true
		}
		for id := range np.last {
			if _, ok := st[id]; !ok {
				delete(np.last, id)
				delete(np.told, id)
			}
		}
	}
	for ep := range out {
		if !changed[ep] {
			delete(out, ep)
		}
	}
	return out
}

// statsEvery is how often the pair's counters and conntrack table are
// read: natStatsEvery, and one more second per 2,000 flows (a reading
// dumps 4 counters per flow: with 10,000 flows, once a second would be a
// steady share of a core for metrics that change at most once a second).
func (np *natPair) statsEvery() time.Duration {
	return max(natStatsEvery, time.Duration(len(np.flows)/2000)*time.Second)
}

// delta is a counter's growth; a counter that went back was re-created
// (its flow changed): all of it is new.
func delta(now, prev uint64) uint64 {
	if now < prev {
		return now
	}
	return now - prev
}

// sweep removes, once per process and namespace, the pairs a previous
// process left that keep does not name (knat.Sweep).
func (h *natHub) sweep(paths []string, keep map[string]bool, log *slog.Logger) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, path := range paths {
		if h.swept[path] {
			continue
		}
		mine := maps.Clone(keep)
		for k, np := range h.pairs {
			if k.CPath == path || k.PPath == path {
				mine[np.id] = true
			}
		}
		removed, err := knat.Sweep(path, mine)
		if err != nil {
			log.Warn("sweep kernel NAT leftovers", "netns", path, "err", err)
			continue
		}
		h.swept[path] = true
		if len(removed) > 0 {
			log.Info("swept kernel NAT leftovers", "netns", path, "pairs", removed)
		}
	}
}

// bridgeNFOff sets net.bridge.bridge-nf-call-iptables to 0 in the
// namespace at path (nothing to do when br_netfilter is not loaded).
func bridgeNFOff(path string) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	done := make(chan error, 1)
	go func() {
		// The thread ends with the goroutine: never handed back in the
		// wrong namespace.
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			done <- err
			return
		}
		err := os.WriteFile("/proc/sys/net/bridge/bridge-nf-call-iptables", []byte("0"), 0o644)
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		done <- err
	}()
	return <-done
}
