package knat

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Config describes one (consumer VPC, provider VPC) pair on a node.
type Config struct {
	// ID names the pair's veth ("plk-"+ID) and nftables tables
	// ("privlink_knat_"+ID); [a-z0-9]{1,10}, unique on the node.
	ID string
	// ConsumerNS and ProviderNS are paths of the two VPC router namespaces
	// (e.g. /run/netns/NAME).
	ConsumerNS, ProviderNS string
	// Link is a /30 inside Reserved: .1 is the consumer end, .2 the
	// provider end.
	Link netip.Prefix
	// SNAT is the prefix, inside Reserved and outside Link, that per-endpoint
	// SNAT sources come from; the provider routes it over the link.
	SNAT netip.Prefix
	// Zone is the node's zone: backends in it are preferred.
	Zone string
	Log  *slog.Logger
}

// Pair is a programmed (consumer VPC, provider VPC) pair. Its methods are
// safe for concurrent use.
type Pair struct {
	cfg          Config
	ifName       string
	cLink, pLink netip.Addr
	cNS, pNS     netns.NsHandle
	cTab, pTab   *nftables.Table

	mu       sync.Mutex
	flows    map[string]Flow           // as last applied
	byENI    map[netip.AddrPort]string // flow ID by ENI
	bySNAT   map[snatKey]string        // flow ID by (SNAT, ENI port)
	dirty    bool                      // a failed apply: rebuild both tables next time
	marks    map[string]uint32         // conntrack mark per flow (consumer side)
	markUsed map[uint32]bool
	fps      map[string]string // flows adopted and not yet confirmed: their fingerprints (adopt_linux.go)
	adopted  int               // flows adopted by Open

	statsMu sync.Mutex   // one Stats at a time
	seen    ctSeen       // the last conntrack reading (Stats)
	ctDumps atomic.Int64 // conntrack readings made (tests)
}

var pairIDRE = regexp.MustCompile(`^[a-z0-9]{1,10}$`)

// TableName is the name of the nftables table a pair owns in both
// namespaces.
func TableName(id string) string { return "privlink_knat_" + id }

// LinkName is the name of the pair's veth in both namespaces.
func LinkName(id string) string { return "plk-" + id }

func (c Config) check() error {
	if !pairIDRE.MatchString(c.ID) {
		return invalid("InvalidPairId.Malformed", "pair id %q must match %s", c.ID, pairIDRE)
	}
	if c.ConsumerNS == "" || c.ProviderNS == "" || c.ConsumerNS == c.ProviderNS {
		return invalid("InvalidNamespace", "consumer %q and provider %q must be two different namespaces", c.ConsumerNS, c.ProviderNS)
	}
	if !c.Link.IsValid() || c.Link.Bits() != 30 || !Reserved.Contains(c.Link.Addr()) || c.Link != c.Link.Masked() {
		return invalid("InvalidLink.Range", "link %v must be a /30 inside %v", c.Link, Reserved)
	}
	if !c.SNAT.IsValid() || c.SNAT.Bits() < Reserved.Bits() || !Reserved.Contains(c.SNAT.Addr()) || c.SNAT.Overlaps(c.Link) {
		return invalid("InvalidSNAT.Range", "SNAT prefix %v must be inside %v and outside the link %v", c.SNAT, Reserved, c.Link)
	}
	return nil
}

// Open creates (or re-creates) the pair: the veth between the two
// namespaces, its addresses and route, IPv4 forwarding, and the two tables
// with their base chains and no flow. A previous incarnation with the same
// ID (e.g. after a restart) is taken over: its veth is kept if it is
// intact, its tables are rebuilt empty (Apply the flows next).
func Open(cfg Config) (*Pair, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	p := &Pair{cfg: cfg, ifName: LinkName(cfg.ID), flows: map[string]Flow{}}
	p.cLink = cfg.Link.Addr().Next()
	p.pLink = p.cLink.Next()
	var err error
	if p.cNS, err = netns.GetFromPath(cfg.ConsumerNS); err != nil {
		return nil, fmt.Errorf("open consumer namespace: %w", err)
	}
	if p.pNS, err = netns.GetFromPath(cfg.ProviderNS); err != nil {
		p.cNS.Close()
		return nil, fmt.Errorf("open provider namespace: %w", err)
	}
	p.cTab = &nftables.Table{Name: TableName(cfg.ID), Family: nftables.TableFamilyIPv4}
	p.pTab = &nftables.Table{Name: TableName(cfg.ID), Family: nftables.TableFamilyIPv4}
	if err := p.setup(); err != nil {
		p.teardown()
		return nil, err
	}
	return p, nil
}

func (p *Pair) setup() error {
	ch, err := netlink.NewHandleAt(p.cNS)
	if err != nil {
		return fmt.Errorf("netlink in consumer namespace: %w", err)
	}
	defer ch.Close()
	ph, err := netlink.NewHandleAt(p.pNS)
	if err != nil {
		return fmt.Errorf("netlink in provider namespace: %w", err)
	}
	defer ph.Close()
	kept := p.adoptable(ch, ph)
	if !kept {
		if err := p.createLink(ch, ph); err != nil {
			return err
		}
	}
	for _, h := range []*netlink.Handle{ch, ph} {
		if err := waitUp(h, p.ifName); err != nil {
			return err
		}
	}
	pl, _ := ph.LinkByName(p.ifName)
	dst, _ := netlink.ParseIPNet(p.cfg.SNAT.Masked().String())
	gw := p.cLink.AsSlice()
	if err := ph.RouteReplace(&netlink.Route{LinkIndex: pl.Attrs().Index, Dst: dst, Gw: gw}); err != nil {
		return fmt.Errorf("route %v via %v: %w", p.cfg.SNAT, p.cLink, err)
	}
	for _, ns := range []netns.NsHandle{p.cNS, p.pNS} {
		if err := inNS(ns, func() error {
			return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
		}); err != nil {
			return fmt.Errorf("enable forwarding: %w", err)
		}
	}
	if kept {
		if ok, err := p.adopt(); err != nil || ok {
			return err
		}
	}
	return p.reset()
}

// reset deletes and re-creates both tables with their base chains, in one
// batch per namespace.
func (p *Pair) reset() error {
	for _, side := range []struct {
		ns   netns.NsHandle
		t    *nftables.Table
		base func(*nftables.Conn, *nftables.Table)
	}{{p.pNS, p.pTab, p.providerBase}, {p.cNS, p.cTab, p.consumerBase}} {
		c, err := nftConn(side.ns)
		if err != nil {
			return err
		}
		if err := dropTable(c, side.t); err != nil {
			return err
		}
		c.AddTable(side.t)
		side.base(c, side.t)
		if err := c.Flush(); err != nil {
			return fmt.Errorf("create table %s: %w", side.t.Name, err)
		}
	}
	p.flows = map[string]Flow{}
	p.byENI = map[netip.AddrPort]string{}
	p.bySNAT = map[snatKey]string{}
	p.marks = map[string]uint32{}
	p.markUsed = map[uint32]bool{}
	p.fps = map[string]string{}
	p.dirty = false
	return nil
}

// batchBuf is the netlink send and receive buffer for nftables batches: a
// batch is one sendmsg and every message in it is acknowledged, and the
// default buffers (about 200 KiB) hold only some tens of flows.
const batchBuf = 64 << 20

func bigSendBuffer(c *mnl.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, batchBuf)
		if serr == nil {
			// Every message of a batch is acknowledged.
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, batchBuf)
		}
	}); err != nil {
		return err
	}
	return serr
}

func nftConn(ns netns.NsHandle) (*nftables.Conn, error) {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)), nftables.WithSockOptions(bigSendBuffer))
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

// dropTable deletes t if it exists.
func dropTable(c *nftables.Conn, t *nftables.Table) error {
	ts, err := c.ListTablesOfFamily(t.Family)
	if err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	for _, x := range ts {
		if x.Name == t.Name {
			c.DelTable(t)
			if err := c.Flush(); err != nil {
				return fmt.Errorf("delete table %s: %w", t.Name, err)
			}
		}
	}
	return nil
}

// inNS runs f on a thread switched into ns.
func inNS(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// The thread is in the wrong namespace: do not give it back.
		runtime.Goexit()
	}
	return ferr
}

// Close deletes everything the pair created: both tables, the veth (and
// with it the route), and the conntrack entries of its flows.
func (p *Pair) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	var cuts []cut
	for _, f := range p.flows {
		cuts = append(cuts, cut{f, nil})
	}
	errs = append(errs, p.cutFlows(cuts))
	p.flows, p.byENI, p.bySNAT = map[string]Flow{}, map[netip.AddrPort]string{}, map[snatKey]string{}
	errs = append(errs, p.teardown())
	return errors.Join(errs...)
}

// Release lets go of the pair without touching the kernel: its tables, veth
// and the connections of its flows stay and keep forwarding, for a later
// Open on the same ID and link to adopt (an owner that restarts). The Pair
// is closed for this process.
func (p *Pair) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ns := range []*netns.NsHandle{&p.cNS, &p.pNS} {
		if ns.IsOpen() {
			ns.Close()
			*ns = netns.None()
		}
	}
}

func (p *Pair) teardown() error {
	var errs []error
	for _, side := range []struct {
		ns netns.NsHandle
		t  *nftables.Table
	}{{p.cNS, p.cTab}, {p.pNS, p.pTab}} {
		if !side.ns.IsOpen() || side.t == nil {
			continue
		}
		c, err := nftConn(side.ns)
		if err == nil {
			err = dropTable(c, side.t)
		}
		errs = append(errs, err)
	}
	if p.cNS.IsOpen() {
		if h, err := netlink.NewHandleAt(p.cNS); err == nil {
			if l, err := h.LinkByName(p.ifName); err == nil {
				errs = append(errs, h.LinkDel(l))
			}
			h.Close()
		}
		p.cNS.Close()
		p.cNS = netns.None()
	}
	if p.pNS.IsOpen() {
		p.pNS.Close()
		p.pNS = netns.None()
	}
	return errors.Join(errs...)
}

// waitUp waits (at most 3 s) until the kernel reports the link
// operationally up: before that its queue drops packets, and a first SYN
// lost there costs a second.
func waitUp(h *netlink.Handle, name string) error {
	deadline := time.Now().Add(3 * time.Second)
	for {
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s: %w", name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not up after 3 s (state %v)", name, l.Attrs().OperState)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// adoptable reports whether an earlier incarnation's veth is there with the
// right addresses on both ends: keeping it (instead of re-creating it)
// keeps the connections that survived a restart flowing.
func (p *Pair) adoptable(ch, ph *netlink.Handle) bool {
	for _, s := range []struct {
		h    *netlink.Handle
		addr netip.Addr
	}{{ch, p.cLink}, {ph, p.pLink}} {
		l, err := s.h.LinkByName(p.ifName)
		if err != nil || l.Type() != "veth" {
			return false
		}
		as, err := s.h.AddrList(l, netlink.FAMILY_V4)
		if err != nil || len(as) != 1 {
			return false
		}
		if a, ok := netip.AddrFromSlice(as[0].IP); !ok || a.Unmap() != s.addr {
			return false
		}
		ones, _ := as[0].Mask.Size()
		if ones != 30 {
			return false
		}
		if err := s.h.LinkSetUp(l); err != nil {
			return false
		}
	}
	return true
}

// createLink replaces any leftover veth with a new one, addressed and up.
func (p *Pair) createLink(ch, ph *netlink.Handle) error {
	for _, h := range []*netlink.Handle{ch, ph} {
		if l, err := h.LinkByName(p.ifName); err == nil {
			if err := h.LinkDel(l); err != nil {
				return fmt.Errorf("delete old %s: %w", p.ifName, err)
			}
		}
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.ifName}, PeerName: p.ifName, PeerNamespace: netlink.NsFd(p.pNS)}
	if err := ch.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", p.ifName, err)
	}
	for _, s := range []struct {
		h    *netlink.Handle
		addr netip.Addr
	}{{ch, p.cLink}, {ph, p.pLink}} {
		l, err := s.h.LinkByName(p.ifName)
		if err != nil {
			return fmt.Errorf("find %s: %w", p.ifName, err)
		}
		a, _ := netlink.ParseAddr(netip.PrefixFrom(s.addr, 30).String())
		if err := s.h.AddrAdd(l, a); err != nil {
			return fmt.Errorf("address %s: %w", p.ifName, err)
		}
		if err := s.h.LinkSetUp(l); err != nil {
			return fmt.Errorf("up %s: %w", p.ifName, err)
		}
	}
	return nil
}
