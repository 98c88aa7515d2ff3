//go:build linux

package lab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Defaults of Config.
const (
	DefaultUnderlayMTU = 1550 // VPC MTU 1500 fits with the 50-byte VXLAN overhead
	MaxNodes           = 250  // underlay addresses 10.255.0.1..250
	bridgeName         = "ul0"
	underlayName       = "ul" // the node's underlay veth
	linkUpTimeout      = 5 * time.Second
)

// Config describes a lab.
type Config struct {
	Nodes int      // number of simulated machines, 1..MaxNodes
	Zones []string // zone of node i is Zones[(i-1) % len(Zones)]; default {"h"}
	// Prefix names everything the lab creates; default "pll" + 6 random
	// hex digits. It must be [a-z0-9]{1,16}.
	Prefix      string
	UnderlayMTU int    // MTU of the underlay links; default DefaultUnderlayMTU
	Dir         string // where process logs go; default a new temp directory
	Logger      *slog.Logger
}

// Lab is a running lab. Its methods may be called from several goroutines.
type Lab struct {
	Prefix      string
	Dir         string
	Nodes       []*Node // Nodes[i] is node "n<i+1>"
	UnderlayMTU int

	log    *slog.Logger
	origin netns.NsHandle
	ns     netns.NsHandle
	nl     *netlink.Handle // the lab namespace (underlay bridge)
	ownDir bool            // Dir made by the lab

	mu     sync.Mutex
	procs  []*Proc
	closed bool
}

// Node is one simulated machine: a node namespace on the underlay.
type Node struct {
	Name        string     // "n<i>"
	Index       int        // i, from 1
	Zone        string     // its zone
	Underlay    netip.Addr // 10.255.0.<i>
	Namespace   string     // the node namespace's name, "<p>-n<i>"
	NetnsPrefix string     // --netns-prefix of its agent, "<p>n<i>"

	lab *Lab
	ns  netns.NsHandle
	nl  *netlink.Handle
}

// UnderlayPrefix is the underlay network of every lab.
var UnderlayPrefix = netip.MustParsePrefix("10.255.0.0/24")

// RandomPrefix is a fresh lab prefix: "pll" and 6 hex digits.
func RandomPrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "pll" + hex.EncodeToString(b[:])
}

func validPrefix(p string) bool {
	if p == "" || len(p) > 16 {
		return false
	}
	for _, c := range p {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Start builds a lab: the lab namespace with bridge ul0, and cfg.Nodes node
// namespaces, each with veth "ul" (10.255.0.<i>/24) on ul0, every link
// operationally up. On error nothing is left behind.
func Start(cfg Config) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("lab: needs root (creates network namespaces)")
	}
	if cfg.Nodes < 1 || cfg.Nodes > MaxNodes {
		return nil, fmt.Errorf("lab: %d nodes: want 1..%d", cfg.Nodes, MaxNodes)
	}
	if len(cfg.Zones) == 0 {
		cfg.Zones = []string{"h"}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = RandomPrefix()
	}
	if !validPrefix(cfg.Prefix) {
		return nil, fmt.Errorf("lab: invalid prefix %q: want [a-z0-9]{1,16}", cfg.Prefix)
	}
	if cfg.UnderlayMTU == 0 {
		cfg.UnderlayMTU = DefaultUnderlayMTU
	}
	if cfg.UnderlayMTU < 1280 || cfg.UnderlayMTU > 9000 {
		return nil, fmt.Errorf("lab: underlay MTU %d: want 1280..9000", cfg.UnderlayMTU)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Lab{Prefix: cfg.Prefix, Dir: cfg.Dir, UnderlayMTU: cfg.UnderlayMTU, log: cfg.Logger.With("lab", cfg.Prefix)}
	if l.Dir == "" {
		d, err := os.MkdirTemp("", "privlink-lab-"+cfg.Prefix+"-")
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		l.Dir, l.ownDir = d, true
	}
	if err := l.build(cfg); err != nil {
		return nil, errors.Join(fmt.Errorf("lab: %w", err), l.Close())
	}
	l.log.Info("lab up", "nodes", cfg.Nodes, "dir", l.Dir)
	return l, nil
}

func (l *Lab) build(cfg Config) error {
	var err error
	if l.origin, err = nsfs.Current(); err != nil {
		return err
	}
	if err := writeOwner(l.Prefix); err != nil {
		return err
	}
	if l.ns, l.nl, err = l.createNS(l.Prefix + "-lab"); err != nil {
		return err
	}
	if err := l.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName, MTU: cfg.UnderlayMTU}}); err != nil {
		return fmt.Errorf("add bridge %s: %w", bridgeName, err)
	}
	br, err := l.nl.LinkByName(bridgeName)
	if err != nil {
		return err
	}
	if err := l.nl.LinkSetUp(br); err != nil {
		return err
	}
	for i := 1; i <= cfg.Nodes; i++ {
		n := &Node{
			Name: fmt.Sprintf("n%d", i), Index: i, Zone: cfg.Zones[(i-1)%len(cfg.Zones)],
			Underlay:    netip.AddrFrom4([4]byte{10, 255, 0, byte(i)}),
			Namespace:   fmt.Sprintf("%s-n%d", l.Prefix, i),
			NetnsPrefix: fmt.Sprintf("%sn%d", l.Prefix, i),
			lab:         l,
		}
		l.Nodes = append(l.Nodes, n)
		if n.ns, n.nl, err = l.createNS(n.Namespace); err != nil {
			return err
		}
		// veth: "n<i>" in the lab namespace on ul0, "ul" in the node.
		if err := l.nl.LinkAdd(&netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: n.Name, MTU: cfg.UnderlayMTU, MasterIndex: br.Attrs().Index},
			PeerName:  underlayName, PeerNamespace: netlink.NsFd(int(n.ns)),
		}); err != nil {
			return fmt.Errorf("add veth for %s: %w", n.Name, err)
		}
		lv, err := l.nl.LinkByName(n.Name)
		if err != nil {
			return err
		}
		if err := l.nl.LinkSetUp(lv); err != nil {
			return err
		}
		ul, err := n.nl.LinkByName(underlayName)
		if err != nil {
			return err
		}
		if err := n.nl.LinkSetMTU(ul, cfg.UnderlayMTU); err != nil {
			return err
		}
		if err := n.nl.AddrAdd(ul, &netlink.Addr{IPNet: netipNet(netip.PrefixFrom(n.Underlay, UnderlayPrefix.Bits()))}); err != nil {
			return fmt.Errorf("underlay address of %s: %w", n.Name, err)
		}
		if err := n.nl.LinkSetUp(ul); err != nil {
			return err
		}
	}
	for _, n := range l.Nodes {
		if err := nsfs.WaitOperUp(n.nl, underlayName, linkUpTimeout); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		if err := nsfs.WaitOperUp(l.nl, n.Name, linkUpTimeout); err != nil {
			return err
		}
	}
	return nsfs.WaitOperUp(l.nl, bridgeName, linkUpTimeout)
}

// createNS makes a named namespace with lo up and a netlink handle in it.
func (l *Lab) createNS(name string) (netns.NsHandle, *netlink.Handle, error) {
	ns, err := CreateNamed(name)
	if err != nil {
		return ns, nil, err
	}
	nlh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return ns, nil, fmt.Errorf("netlink in %s: %w", name, err)
	}
	lo, err := nlh.LinkByName("lo")
	if err == nil {
		err = nlh.LinkSetUp(lo)
	}
	if err != nil {
		return ns, nlh, fmt.Errorf("lo up in %s: %w", name, err)
	}
	return ns, nlh, nil
}

// Node returns node "n<i>" (nil if there is none).
func (l *Lab) Node(name string) *Node {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Cut takes node n off the underlay (its lab-side veth down), like a pulled
// cable: it loses its peers and, when etcd members or the API sit on other
// nodes, the control plane. Its own processes keep running.
func (l *Lab) Cut(n *Node) error {
	lk, err := l.nl.LinkByName(n.Name)
	if err == nil {
		err = l.nl.LinkSetDown(lk)
	}
	if err != nil {
		return fmt.Errorf("lab: cut %s: %w", n.Name, err)
	}
	l.log.Info("node cut off the underlay", "node", n.Name)
	return nil
}

// Heal puts node n back on the underlay and waits for both ends of its
// underlay link to be operationally up.
func (l *Lab) Heal(n *Node) error {
	lk, err := l.nl.LinkByName(n.Name)
	if err == nil {
		err = l.nl.LinkSetUp(lk)
	}
	if err == nil {
		err = nsfs.WaitOperUp(l.nl, n.Name, linkUpTimeout)
	}
	if err == nil {
		err = nsfs.WaitOperUp(n.nl, underlayName, linkUpTimeout)
	}
	if err != nil {
		return fmt.Errorf("lab: heal %s: %w", n.Name, err)
	}
	l.log.Info("node back on the underlay", "node", n.Name)
	return nil
}

// Close kills every process the lab started (SIGKILL by PID, then reaped),
// deletes every namespace whose name starts with the prefix (links first:
// node namespaces, the lab namespace, and the VPC and host namespaces the
// nodes' agents made), every /etc/netns entry with the prefix, the prefix
// claim files the lab's privlink processes left in /run/privlink, and the
// log directory if the lab made it. It returns what it could not remove.
// Calling it twice is harmless.
func (l *Lab) Close() error {
	l.mu.Lock()
	procs := slices.Clone(l.procs)
	l.closed = true
	l.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if err := p.Kill(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range l.Nodes {
		if n.nl != nil {
			n.nl.Close()
			n.nl = nil
		}
		if n.ns.IsOpen() {
			n.ns.Close()
			n.ns = netns.None()
		}
	}
	if l.nl != nil {
		l.nl.Close()
		l.nl = nil
	}
	if l.ns.IsOpen() {
		l.ns.Close()
		l.ns = netns.None()
	}
	if l.origin.IsOpen() {
		l.origin.Close()
		l.origin = netns.None()
	}
	errs = append(errs, sweep(l.Prefix))
	if l.ownDir {
		errs = append(errs, os.RemoveAll(l.Dir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab %s: close: %w", l.Prefix, err)
	}
	return nil
}

// sweep removes the namespaces, /etc/netns entries and prefix claim files
// named "<prefix>…", then the owner file. Agents' namespaces ("<p>n<i>-…") go before the node
// namespaces their VXLAN sockets live in; the lab namespace goes last.
func sweep(prefix string) error {
	var errs []error
	names := Leftovers(prefix)
	slices.SortStableFunc(names, func(a, b string) int { return sweepRank(prefix, a) - sweepRank(prefix, b) })
	for _, p := range names {
		name := filepath.Base(p)
		if !strings.HasPrefix(p, nsfs.RunDir+"/") {
			// /etc/netns entries; claim files, whose holders (the lab's
			// processes) are dead by now.
			errs = append(errs, os.RemoveAll(p))
		} else {
			errs = append(errs, nsfs.Teardown(name))
		}
	}
	if left := Leftovers(prefix); len(left) > 0 {
		errs = append(errs, fmt.Errorf("left behind: %v", left))
	}
	if err := os.Remove(ownerPath(prefix)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func sweepRank(prefix, path string) int {
	switch name := filepath.Base(path); {
	case name == prefix+"-lab":
		return 2
	case strings.HasPrefix(name, prefix+"-n"):
		return 1
	default:
		return 0
	}
}

// claimDir is internal/netdrv's ClaimDir: privlink processes leave their
// prefix's claim files "netns-<prefix>.lock/.owner" there.
const claimDir = "/run/privlink"

// Leftovers lists /run/netns and /etc/netns entries whose names start with
// prefix (a lab's prefix: its own namespaces and its agents'), and the
// prefix claim files the lab's privlink processes left in /run/privlink.
func Leftovers(prefix string) []string {
	var out []string
	for _, dir := range []string{nsfs.RunDir, nsfs.EtcDir, claimDir} {
		want := prefix
		if dir == claimDir {
			want = "netns-" + prefix
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), want) {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	return out
}

func netipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
