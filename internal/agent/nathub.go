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
	pair           pairKey
	cPath, pPath   string // router namespace paths
	endpoint, zone string
	flow           knat.Flow
}

type natPair struct {
	id     string
	slot   int
	p      *knat.Pair
	flows  map[string]natFlow // as last applied
	routes map[netip.Addr]bool
	last   map[string]knat.Stats // counters at the last stats read
	snap   map[string]knat.Stats // the pair's last reading (natStatsEvery)
	snapAt time.Time
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
// union of the shares. It returns errors by endpoint ID.
func (h *natHub) set(owner *Agent, flows map[string]natFlow, log *slog.Logger) map[string]error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(flows) == 0 {
		delete(h.shares, owner)
	} else {
		h.shares[owner] = flows
	}
	want := map[pairKey]map[string]natFlow{}
	for _, share := range h.shares {
		for id, f := range share {
			if want[f.pair] == nil {
				want[f.pair] = map[string]natFlow{}
			}
			want[f.pair][id] = f
		}
	}
	errs := map[string]error{}
	fail := func(fs map[string]natFlow, err error) {
		for _, f := range fs {
			errs[f.endpoint] = err
		}
	}
	for k, fs := range want {
		np := h.pairs[k]
		if np == nil {
			var err error
			if np, err = h.open(k, fs, log); err != nil {
				log.Error("open kernel NAT pair", "consumerVpc", k.Consumer, "providerVpc", k.Provider, "err", err)
				fail(fs, err)
				continue
			}
		}
		if sameFlows(np.flows, fs) {
			continue
		}
		if err := np.apply(fs); err != nil {
			log.Error("apply kernel NAT flows", "pair", np.id, "flows", len(fs), "err", err)
			fail(fs, err)
			continue
		}
		log.Info("kernel NAT flows applied", "pair", np.id, "consumerVpc", k.Consumer, "providerVpc", k.Provider, "flows", len(fs))
	}
	for k, np := range h.pairs {
		if _, ok := want[k]; ok {
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

func sameFlows(a, b map[string]natFlow) bool {
	if len(a) != len(b) {
		return false
	}
	for id, f := range a {
		g, ok := b[id]
		if !ok || !sameFlow(f.flow, g.flow) {
			return false
		}
	}
	return true
}

func sameFlow(a, b knat.Flow) bool {
	if a.ID != b.ID || a.ENI != b.ENI || a.SNAT != b.SNAT || a.RateBytes != b.RateBytes || len(a.Backends) != len(b.Backends) || len(a.SG) != len(b.SG) {
		return false
	}
	for i := range a.Backends {
		if a.Backends[i] != b.Backends[i] {
			return false
		}
	}
	for i := range a.SG {
		if a.SG[i] != b.SG[i] {
			return false
		}
	}
	return true
}

// open opens (or takes over) the pair of k on a free link slot.
func (h *natHub) open(k pairKey, fs map[string]natFlow, log *slog.Logger) (*natPair, error) {
	var any natFlow
	for _, f := range fs {
		any = f
		break
	}
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
	np := &natPair{id: id, slot: slot, p: p, flows: map[string]natFlow{}, routes: map[netip.Addr]bool{}, last: map[string]knat.Stats{}}
	h.slots[slot] = k
	h.pairs[k] = np
	log.Info("kernel NAT pair open", "pair", id, "consumerVpc", k.Consumer, "providerVpc", k.Provider, "link", slotPrefix(slot))
	return np, nil
}

// apply programs fs and routes their SNAT sources back over the link in
// the provider's router (one /32 each: several pairs share a provider
// router, each with its own consumers' sources).
func (np *natPair) apply(fs map[string]natFlow) error {
	flows := make([]knat.Flow, 0, len(fs))
	var pPath string
	for _, f := range fs {
		flows = append(flows, f.flow)
		pPath = f.pPath
	}
	if err := np.p.Apply(flows); err != nil {
		return err
	}
	np.flows = fs
	var missing []netip.Addr
	want := map[netip.Addr]bool{}
	for _, f := range fs {
		want[f.flow.SNAT] = true
		if !np.routes[f.flow.SNAT] {
			missing = append(missing, f.flow.SNAT)
		}
	}
	var gone []netip.Addr
	for a := range np.routes {
		if !want[a] {
			gone = append(gone, a)
		}
	}
	if len(missing) == 0 && len(gone) == 0 {
		return nil
	}
	ns, err := netns.GetFromPath(pPath)
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
	}
	for _, a := range missing {
		dst, _ := netlink.ParseIPNet(netip.PrefixFrom(a, 32).String())
		if err := nh.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Gw: gw.AsSlice()}); err != nil {
			return fmt.Errorf("route %v via %v: %w", a, gw, err)
		}
		np.routes[a] = true
	}
	return nil
}

// stats returns, by endpoint, what owner's flows did since the last call.
func (h *natHub) stats(owner *Agent) map[string]proxy.NATDelta {
	h.mu.Lock()
	defer h.mu.Unlock()
	share := h.shares[owner]
	out := map[string]proxy.NATDelta{}
	for _, np := range h.pairs {
		mine := false
		for id := range np.flows {
			if _, ok := share[id]; ok {
				mine = true
				break
			}
		}
		if !mine {
			continue
		}
		if np.snap == nil || time.Since(np.snapAt) >= natStatsEvery {
			st, err := np.p.Stats()
			if err != nil {
				continue
			}
			np.snap, np.snapAt = st, time.Now()
		}
		st := np.snap
		for id, s := range st {
			f, ok := share[id]
			if !ok {
				continue
			}
			prev := np.last[id]
			np.last[id] = s
			d := out[f.endpoint]
			d.BytesIn += delta(s.BytesOut, prev.BytesOut)
			d.BytesOut += delta(s.BytesIn, prev.BytesIn)
			d.NewConns += delta(s.NewConns, prev.NewConns)
			d.Rejects += delta(s.Rejects, prev.Rejects)
			d.Active += s.Active
			out[f.endpoint] = d
		}
		for id := range np.last {
			if _, ok := st[id]; !ok {
				delete(np.last, id)
			}
		}
	}
	return out
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
