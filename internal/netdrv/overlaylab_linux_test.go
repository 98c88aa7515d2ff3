package netdrv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A small lab of nodes on one machine for the overlay tests: a lab
// namespace with bridge ul0, node namespaces with veth "ul"
// (10.255.0.<i>/24) plugged into it, and on each node a netns driver
// (its own prefix, so two nodes' copies of one VPC do not clash) configured
// with SetNode. Names start with "plovl-<pid>-"; leftovers of a killed
// run (its pid gone) are swept at the next start, and a run in another
// process (a concurrent `go test`) is left alone.

const ovLabMark = "plovl-"

type ovLab struct {
	t      *testing.T
	origin netns.NsHandle
	prefix string
	labNL  *netlink.Handle
	nodes  []*ovNode
}

type ovNode struct {
	name     string
	index    int
	underlay netip.Addr
	nsPath   string
	ns       netns.NsHandle
	nl       *netlink.Handle
	d        *NetnsDriver
}

func (n *ovNode) overlayAddr() netip.Addr { return OverlayAddr(n.index) }

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newOvLab builds n nodes on an underlay of MTU mtu and configures a
// driver on each.
func newOvLab(t *testing.T, n, mtu int) *ovLab {
	t.Helper()
	runtime.LockOSThread()
	origin, err := netns.Get()
	runtime.UnlockOSThread()
	ok(t, err)
	t.Cleanup(func() { origin.Close() })
	ok(t, nsfs.EnsureRunDir())
	if names, _ := nsfs.List(); len(names) > 0 {
		for _, name := range names {
			if ovLabLeftover(name) {
				t.Logf("removing leftover namespace %s", name)
				nsfs.Teardown(name) //nolint:errcheck
			}
		}
	}
	l := &ovLab{t: t, origin: origin, prefix: fmt.Sprintf("%s%d-%s", ovLabMark, os.Getpid(), randB32(4))}
	_, l.labNL = l.netns("lab")
	ok(t, l.labNL.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "ul0", MTU: mtu}}))
	ul0, err := l.labNL.LinkByName("ul0")
	ok(t, err)
	ok(t, l.labNL.LinkSetUp(ul0))
	for i := 1; i <= n; i++ {
		nd := &ovNode{name: fmt.Sprintf("n%d", i), index: i, underlay: netip.AddrFrom4([4]byte{10, 255, 0, byte(i)})}
		nd.ns, nd.nl = l.netns(nd.name)
		nd.nsPath = nsfs.Path(l.prefix + "-" + nd.name)
		ok(t, l.labNL.LinkAdd(&netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{Name: nd.name, MTU: mtu, MasterIndex: ul0.Attrs().Index},
			PeerName:  "ul", PeerNamespace: netlink.NsFd(int(nd.ns)),
		}))
		lv, err := l.labNL.LinkByName(nd.name)
		ok(t, err)
		ok(t, l.labNL.LinkSetUp(lv))
		ul, err := nd.nl.LinkByName("ul")
		ok(t, err)
		ok(t, nd.nl.LinkSetMTU(ul, mtu))
		ok(t, nd.nl.AddrAdd(ul, &netlink.Addr{IPNet: ipNet(nd.underlay, 24)}))
		ok(t, nd.nl.LinkSetUp(ul))
		ok(t, nsfs.WaitOperUp(nd.nl, "ul", 3*time.Second))
		nd.d = l.driver(nd)
		l.nodes = append(l.nodes, nd)
	}
	return l
}

// ovLabLeftover: name is an overlay lab namespace whose process is gone.
func ovLabLeftover(name string) bool {
	rest, ok := strings.CutPrefix(name, ovLabMark)
	if !ok {
		return false
	}
	pid, _, _ := strings.Cut(rest, "-")
	if n, err := strconv.Atoi(pid); err == nil && n != os.Getpid() {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", n))
		return errors.Is(err, os.ErrNotExist)
	}
	return false
}

// driver makes a configured netns driver for node nd; t.Cleanup removes
// everything it made (before the node namespace goes).
func (l *ovLab) driver(nd *ovNode) *NetnsDriver { return l.driverAs(nd, nd.name+"d") }

// driverAs is driver with another prefix ("<lab prefix>-<suffix>"): a
// second deployment on the same node.
func (l *ovLab) driverAs(nd *ovNode, suffix string) *NetnsDriver {
	d, err := newNetns(l.prefix+"-"+suffix, testLogger(l.t))
	ok(l.t, err)
	l.t.Cleanup(func() {
		if err := d.Cleanup(); err != nil {
			l.t.Errorf("cleanup %s: %v", nd.name, err)
		}
		d.Close()
	})
	ok(l.t, d.SetNode(Node{Namespace: nd.nsPath, UnderlayAddr: nd.underlay, Index: nd.index}))
	return d
}

// netns makes a lab namespace "<prefix>-<name>" removed by t.Cleanup.
func (l *ovLab) netns(name string) (netns.NsHandle, *netlink.Handle) {
	l.t.Helper()
	full := l.prefix + "-" + name
	ns, err := nsfs.Create(l.origin, full)
	ok(l.t, err)
	l.t.Cleanup(func() {
		ns.Close()
		if err := nsfs.Teardown(full); err != nil {
			l.t.Errorf("teardown %s: %v", full, err)
		}
	})
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	ok(l.t, err)
	l.t.Cleanup(nl.Close)
	lo, err := nl.LinkByName("lo")
	ok(l.t, err)
	ok(l.t, nl.LinkSetUp(lo))
	return ns, nl
}

// ------------------------------------------------------------ placement

// ovVPC is what the store would say about one VPC: its VNI and which node
// holds which address. entries computes one node's forwarding entries the
// way the agent does (design §3.2).
type ovVPC struct {
	id      string
	vni     int
	holders []*ovNode              // nodes holding a copy
	placed  map[netip.Addr]*ovNode // hosts and ENIs
}

func (v *ovVPC) entries(self *ovNode) Entries {
	e := Entries{Remote: map[netip.Addr]net.HardwareAddr{}}
	for _, n := range v.holders {
		if n != self {
			e.Peers = append(e.Peers, Peer{MAC: VTEPMAC(n.underlay), Underlay: n.underlay})
			e.Remote[n.overlayAddr()] = VTEPMAC(n.underlay)
		}
	}
	for a, n := range v.placed {
		if n != self {
			e.Remote[a] = VTEPMAC(n.underlay)
		}
	}
	return e
}

// program applies every holder's entries.
func (v *ovVPC) program(t *testing.T) {
	t.Helper()
	for _, n := range v.holders {
		ok(t, n.d.SetOverlayEntries(v.id, v.entries(n)))
	}
}

// ------------------------------------------------------------- traffic

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// serve accepts on ln; each connection gets tag ("@peer": the client's
// address), or with tag "" everything is echoed back.
func serve(t *testing.T, ln net.Listener, tag string) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				switch tag {
				case "":
					io.Copy(c, c)
				case "@peer":
					c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String()))
				default:
					c.Write([]byte(tag))
				}
			}()
		}
	}()
}

type dialFunc func(ctx context.Context, addr netip.AddrPort) (net.Conn, error)

func fromHost(d *NetnsDriver, hostID string) dialFunc {
	return func(ctx context.Context, a netip.AddrPort) (net.Conn, error) { return d.DialHost(ctx, hostID, a) }
}

func fromVPC(d *NetnsDriver, vpcID string) dialFunc {
	return func(ctx context.Context, a netip.AddrPort) (net.Conn, error) { return d.Dial(ctx, vpcID, a) }
}

// tag dials addr (1.5 s budget) and returns what the server wrote.
func tag(dial dialFunc, addr netip.AddrPort) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	c, err := dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func wantTag(t *testing.T, what string, dial dialFunc, addr netip.AddrPort, want string) {
	t.Helper()
	if got, err := tag(dial, addr); err != nil || got != want {
		t.Errorf("%s -> %s: got %q, %v; want %q", what, addr, got, err, want)
	}
}

func wantNoConn(t *testing.T, what string, dial dialFunc, addr netip.AddrPort) {
	t.Helper()
	if got, err := tag(dial, addr); err == nil {
		t.Errorf("%s -> %s: connected (%q), want no connection", what, addr, got)
	}
}

// echo sends n random bytes through an echo server and checks them.
func echo(dial dialFunc, addr netip.AddrPort, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	data := make([]byte, n)
	rand.Read(data)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if werr := <-errc; werr != nil {
		return fmt.Errorf("write: %w", werr)
	}
	if err != nil {
		return fmt.Errorf("read after %d bytes: %w", len(got), err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("echo differs: sent %d bytes, got %d", n, len(got))
	}
	return nil
}

// hostNS opens a host's namespace.
func hostNS(t *testing.T, d *NetnsDriver, hostID string) netns.NsHandle {
	t.Helper()
	h, err := nsfs.Open(nsfs.Path(d.nsName(hostID)))
	ok(t, err)
	t.Cleanup(func() { h.Close() })
	return h
}

// ping sends one ICMP echo of size bytes (IP packet) with DF set from
// inside ns and waits for the reply (raw socket: no ping binary needed).
func ping(origin, ns netns.NsHandle, dst netip.Addr, size int) error {
	return nsfs.In(origin, ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(time.Second))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		id, seq := uint16(os.Getpid()), uint16(time.Now().UnixNano())
		msg := make([]byte, size-20)
		msg[0] = 8 // echo request
		binary.BigEndian.PutUint16(msg[4:], id)
		binary.BigEndian.PutUint16(msg[6:], seq)
		binary.BigEndian.PutUint16(msg[2:], icmpSum(msg))
		if err := unix.Sendto(fd, msg, 0, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
			return fmt.Errorf("send %d-byte DF echo: %w", size, err)
		}
		buf := make([]byte, 65536)
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return fmt.Errorf("no reply to %d-byte DF echo: %w", size, err)
			}
			ihl := int(buf[0]&0x0f) * 4
			if n < ihl+8 {
				continue
			}
			icmp := buf[ihl:n]
			switch {
			case icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == id && binary.BigEndian.Uint16(icmp[6:]) == seq:
				if n != size {
					return fmt.Errorf("reply is %d bytes, sent %d", n, size)
				}
				return nil
			case icmp[0] == 3 && icmp[1] == 4:
				return fmt.Errorf("fragmentation needed, next-hop MTU %d", binary.BigEndian.Uint16(icmp[6:]))
			}
		}
		return errors.New("no reply")
	})
}

func icmpSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// neighOf returns the MAC ns's neighbour table holds for ip ("" if none).
func neighOf(t *testing.T, ns netns.NsHandle, ip netip.Addr) string {
	t.Helper()
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	ok(t, err)
	defer nl.Close()
	list, err := nl.NeighList(0, unix.AF_INET)
	ok(t, err)
	for _, n := range list {
		if a, _ := netip.AddrFromSlice(n.IP); a.Unmap() == ip {
			return n.HardwareAddr.String()
		}
	}
	return ""
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Second)
}

// cut takes a node off the underlay (its lab-side veth down), like a
// pulled cable; heal puts it back and waits for the links.
func (l *ovLab) cut(nd *ovNode) {
	l.t.Helper()
	lk, err := l.labNL.LinkByName(nd.name)
	ok(l.t, err)
	ok(l.t, l.labNL.LinkSetDown(lk))
}

func (l *ovLab) heal(nd *ovNode) {
	l.t.Helper()
	lk, err := l.labNL.LinkByName(nd.name)
	ok(l.t, err)
	ok(l.t, l.labNL.LinkSetUp(lk))
	ok(l.t, nsfs.WaitOperUp(l.labNL, nd.name, 3*time.Second))
	ok(l.t, nsfs.WaitOperUp(nd.nl, "ul", 3*time.Second))
}
