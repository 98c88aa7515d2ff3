package knat

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// world is a consumer VPC and a provider VPC with the same CIDR
// (10.0.0.0/24): each has a router namespace (10.0.0.1) and a host
// namespace (10.0.0.10, also .11 and .12 on the provider side) behind it.
// The consumer router also holds the endpoint's ENI 10.0.0.100.
type world struct {
	prefix         string
	cR, cH, pR, pH string // namespace names
	pair           *Pair
}

var (
	eni      = netip.MustParseAddr("10.0.0.100")
	hostIP   = netip.MustParseAddr("10.0.0.10")
	linkPfx  = netip.MustParsePrefix("100.127.0.0/30")
	snatPfx  = netip.MustParsePrefix("100.127.1.0/24")
	snatAddr = netip.MustParseAddr("100.127.1.5")
)

func needRoot(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veths and nftables tables")
	}
}

func randID(n int) string {
	const a = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = a[int(b[i])%len(a)]
	}
	return string(b)
}

func newNS(t testing.TB, name string) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	ns.Close()
	if err := netns.Set(orig); err != nil {
		panic(err)
	}
	t.Cleanup(func() { netns.DeleteNamed(name) })
}

func nsPath(name string) string { return "/run/netns/" + name }

func handle(t testing.TB, name string) *netlink.Handle {
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// wire connects host namespace h to router namespace r: host eth0 with
// addrs (first is primary, default route via 10.0.0.1), router "vh" with
// 10.0.0.1/24 and extra addrs.
func wire(t testing.TB, r, h string, hostAddrs, routerExtra []string) {
	wireGW(t, r, h, hostAddrs, append([]string{"10.0.0.1/24"}, routerExtra...), "10.0.0.1")
}

// wireGW is wire with explicit router addresses and host gateway.
func wireGW(t testing.TB, r, h string, hostAddrs, routerAddrs []string, gw string) {
	hh, rh := handle(t, h), handle(t, r)
	defer hh.Close()
	defer rh.Close()
	rns, _ := netns.GetFromName(r)
	defer rns.Close()
	if err := hh.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "vh", PeerNamespace: netlink.NsFd(rns)}); err != nil {
		t.Fatal(err)
	}
	setup := func(h *netlink.Handle, ifn string, addrs []string) {
		l, err := h.LinkByName(ifn)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			na, _ := netlink.ParseAddr(a)
			if err := h.AddrAdd(l, na); err != nil {
				t.Fatal(err)
			}
		}
		h.LinkSetUp(l)
		lo, _ := h.LinkByName("lo")
		h.LinkSetUp(lo)
	}
	setup(hh, "eth0", hostAddrs)
	setup(rh, "vh", routerAddrs)
	if err := waitUp(hh, "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := waitUp(rh, "vh"); err != nil {
		t.Fatal(err)
	}
	l, _ := hh.LinkByName("eth0")
	if err := hh.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.ParseIP(gw)}); err != nil {
		t.Fatal(err)
	}
}

func newWorld(t testing.TB, zone string) *world {
	needRoot(t)
	w := &world{prefix: "kn" + randID(6)}
	w.cR, w.cH, w.pR, w.pH = w.prefix+"-cr", w.prefix+"-ch", w.prefix+"-pr", w.prefix+"-ph"
	for _, n := range []string{w.cR, w.cH, w.pR, w.pH} {
		newNS(t, n)
	}
	wire(t, w.cR, w.cH, []string{"10.0.0.10/24"}, []string{"10.0.0.100/24"})
	wire(t, w.pR, w.pH, []string{"10.0.0.10/24", "10.0.0.11/24", "10.0.0.12/24"}, nil)
	p, err := Open(Config{ID: randID(8), ConsumerNS: nsPath(w.cR), ProviderNS: nsPath(w.pR),
		Link: linkPfx, SNAT: snatPfx, Zone: zone})
	if err != nil {
		t.Fatalf("open pair: %v", err)
	}
	w.pair = p
	t.Cleanup(func() {
		if !p.cNS.IsOpen() {
			return // replaced by the test
		}
		if err := p.Close(); err != nil {
			t.Errorf("close pair: %v", err)
		}
	})
	return w
}

func inNamed(t testing.TB, name string, f func() error) error {
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	return inNS(ns, f)
}

// listen opens a TCP listener in namespace ns; each connection first gets
// "tag remote\n", then an echo of what it sends.
func listen(t testing.TB, ns string, addr string, tag string) net.Listener {
	var ln net.Listener
	if err := inNamed(t, ns, func() (err error) { ln, err = net.Listen("tcp4", addr); return }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s %s\n", tag, c.RemoteAddr().(*net.TCPAddr).IP)
				io.Copy(c, c)
			}()
		}
	}()
	return ln
}

// dial connects from namespace ns with a bounded timeout.
func dial(t testing.TB, ns, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := inNamed(t, ns, func() (err error) {
		// The socket is created in ns by this locked thread; connecting
		// may finish on another thread, the socket keeps its namespace.
		d := net.Dialer{Timeout: timeout}
		c, err = d.DialContext(context.Background(), "tcp4", addr)
		return
	})
	return c, err
}

// hello dials and reads the greeting line ("tag remote").
func hello(t testing.TB, ns, addr string) (net.Conn, string, error) {
	c, err := dial(t, ns, addr, time.Second)
	if err != nil {
		return nil, "", err
	}
	return greet(c)
}

func greet(c net.Conn) (net.Conn, string, error) {
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var line []byte
	b := make([]byte, 1)
	for {
		if _, err := c.Read(b); err != nil {
			c.Close()
			return nil, "", err
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	c.SetReadDeadline(time.Time{})
	return c, string(line), nil
}

// echo writes and reads back one message within a second.
func echo(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != msg {
		return errors.New("echo mismatch: " + string(b))
	}
	return nil
}

func flow(id string, port uint16, backends ...Backend) Flow {
	return Flow{ID: id, ENI: netip.AddrPortFrom(eni, port), SNAT: snatAddr, Backends: backends}
}

func be(addr, zone string, healthy bool) Backend {
	return Backend{Addr: netip.MustParseAddrPort(addr), Zone: zone, Healthy: healthy}
}

var netlinkParseAddr = netlink.ParseAddr

// helloFrom is hello with a chosen local address.
func helloFrom(t testing.TB, ns, local, addr string) (net.Conn, string, error) {
	var c net.Conn
	err := inNamed(t, ns, func() (err error) {
		d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err = d.Dial("tcp4", addr)
		return
	})
	if err != nil {
		return nil, "", err
	}
	return greet(c)
}

// ctCount counts the consumer-side conntrack entries of ENI:port.
func ctCount(t testing.TB, p *Pair, a netip.Addr, port uint16) int {
	c, err := ctConn(p.cNS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fs, err := c.Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fs {
		if f.TupleOrig.IP.DestinationAddress == a && f.TupleOrig.Proto.DestinationPort == port {
			n++
		}
	}
	return n
}
