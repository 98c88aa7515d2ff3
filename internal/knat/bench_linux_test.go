package knat

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// directWorld is the direct path the NAT pair is compared with: the same
// hops (client host, consumer router, provider router, server host) with a
// plain route between the two routers and distinct CIDRs (10.0.0.0/24 and
// 10.9.0.0/24), no nftables. It returns the server's address.
func directWorld(t testing.TB) (client, server, addr string) {
	needRoot(t)
	pre := "kd" + randID(6)
	cR, cH, sR, sH := pre+"-cr", pre+"-ch", pre+"-sr", pre+"-sh"
	for _, n := range []string{cR, cH, sR, sH} {
		newNS(t, n)
	}
	wire(t, cR, cH, []string{"10.0.0.10/24"}, nil)
	wireGW(t, sR, sH, []string{"10.9.0.10/24"}, []string{"10.9.0.1/24"}, "10.9.0.1")
	ch, sh := handle(t, cR), handle(t, sR)
	defer ch.Close()
	defer sh.Close()
	sns, _ := netns.GetFromName(sR)
	defer sns.Close()
	if err := ch.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "rr"}, PeerName: "rr", PeerNamespace: netlink.NsFd(sns)}); err != nil {
		t.Fatal(err)
	}
	sides := []struct {
		h          *netlink.Handle
		addr, dst  string
		gw, router string
	}{{ch, "192.168.255.1/30", "10.9.0.0/24", "192.168.255.2", cR}, {sh, "192.168.255.2/30", "10.0.0.0/24", "192.168.255.1", sR}}
	for _, s := range sides {
		l, _ := s.h.LinkByName("rr")
		a, _ := netlink.ParseAddr(s.addr)
		s.h.AddrAdd(l, a)
		s.h.LinkSetUp(l)
	}
	for _, s := range sides {
		l, _ := s.h.LinkByName("rr")
		if err := waitUp(s.h, "rr"); err != nil {
			t.Fatal(err)
		}
		dst, _ := netlink.ParseIPNet(s.dst)
		if err := s.h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Gw: net.ParseIP(s.gw)}); err != nil {
			t.Fatal(err)
		}
		if err := inNamed(t, s.router, func() error {
			return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
		}); err != nil {
			t.Fatal(err)
		}
	}
	return cH, sH, "10.9.0.10:8080"
}

// serveBench accepts on addr in ns: a connection whose first byte is 's'
// is a sink (read and discard, then close), the others echo.
func serveBench(t testing.TB, ns, addr string) {
	var ln net.Listener
	if err := inNamed(t, ns, func() (err error) { ln, err = net.Listen("tcp4", addr); return }); err != nil {
		t.Fatal(err)
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
				b := make([]byte, 1)
				if _, err := io.ReadFull(c, b); err != nil {
					return
				}
				if b[0] == 's' {
					io.Copy(io.Discard, c)
					return
				}
				c.Write(b)
				io.Copy(c, c)
			}()
		}
	}()
}

// cpuNow is this process's user+system CPU time. The veth path runs in
// the sender's and receiver's softirq context, so with client and server in
// this process it holds most of the path's CPU, and it is far less
// disturbed by other load on the machine than throughput is.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type benchPath struct {
	name, client, addr string
	run                func(func()) // runs a function on a thread in the client namespace
}

// nsRunner returns a function that runs closures on one OS thread that
// stays in namespace ns, so that a dial costs no namespace switch.
func nsRunner(t testing.TB, ns string) func(func()) {
	ch := make(chan func())
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		h, err := netns.GetFromName(ns)
		if err == nil {
			err = netns.Set(h)
			h.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for f := range ch {
			f()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(ch) })
	return func(f func()) {
		done := make(chan struct{})
		ch <- func() { f(); close(done) }
		<-done
	}
}

func (p benchPath) dial(t testing.TB) net.Conn {
	var c net.Conn
	var err error
	p.run(func() { c, err = net.DialTimeout("tcp4", p.addr, time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bulk streams to a sink for d over one connection; Gbit/s of payload
// until the sink has read it all (it closes after EOF).
func bulk(t testing.TB, p benchPath, d time.Duration) float64 {
	c := p.dial(t)
	defer c.Close()
	if _, err := c.Write([]byte{'s'}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	var sent int64
	start := time.Now()
	for time.Since(start) < d {
		n, err := c.Write(buf)
		if err != nil {
			t.Fatal(err)
		}
		sent += int64(n)
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c) // EOF once the sink has read everything
	return float64(sent) * 8 / time.Since(start).Seconds() / 1e9
}

// short opens, does one 1-byte round trip and closes connections for d;
// connections per second.
func short(t testing.TB, p benchPath, d time.Duration) float64 {
	b := []byte{1}
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		c := p.dial(t)
		c.Write(b)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		c.Close()
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

// pingpong does 1-byte round trips on one connection for d; round trips
// per second.
func pingpong(t testing.TB, p benchPath, d time.Duration) float64 {
	c := p.dial(t)
	defer c.Close()
	b := []byte{1}
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		c.Write(b)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkNATvsDirect compares the NAT pair with the direct routed path
// on the same number of hops, for bulk throughput, short connections and
// ping-pong, alternating the two paths (2 rounds of 2 s per row each; run
// with -benchtime=1x). Metrics: per path and the NAT/direct ratio.
func BenchmarkNATvsDirect(b *testing.B) {
	w := newWorld(b, "a")
	serveBench(b, w.pH, "10.0.0.10:8080")
	if err := w.pair.Apply([]Flow{flow("bench", 80, be("10.0.0.10:8080", "a", true))}); err != nil {
		b.Fatal(err)
	}
	dc, ds, daddr := directWorld(b)
	serveBench(b, ds, daddr)
	nat := benchPath{"nat", w.cH, "10.0.0.100:80", nsRunner(b, w.cH)}
	direct := benchPath{"direct", dc, daddr, nsRunner(b, dc)}
	const d = 2 * time.Second
	rows := []struct {
		name, unit, cpuUnit string
		cpuScale            float64 // work units per rate unit·s
		run                 func(testing.TB, benchPath, time.Duration) float64
	}{
		{"bulk", "Gbit/s", "CPU-s/GB", 1.0 / 8, bulk},
		{"short", "conn/s", "CPU-µs/conn", 1, short},
		{"pingpong", "rt/s", "CPU-µs/rt", 1, pingpong},
	}
	for i := 0; i < b.N; i++ {
		for _, r := range rows {
			var rate, cpu [2]float64
			for round := 0; round < 2; round++ {
				for k, p := range []benchPath{direct, nat} {
					c0 := cpuNow()
					v := r.run(b, p, d)
					used := (cpuNow() - c0).Seconds()
					rate[k] += v / 2
					// work done: rate × d (GB for bulk, connections or round trips)
					cpu[k] += used / (v * r.cpuScale * d.Seconds()) / 2
				}
			}
			if r.name != "bulk" {
				cpu[0], cpu[1] = cpu[0]*1e6, cpu[1]*1e6
			}
			b.ReportMetric(rate[0], r.name+"-direct-"+r.unit)
			b.ReportMetric(rate[1], r.name+"-nat-"+r.unit)
			b.ReportMetric(rate[1]/rate[0], r.name+"-ratio")
			fmt.Fprintf(os.Stderr, "%-9s direct %10.2f  nat %10.2f %-7s  nat/direct %.2f | %s direct %.3f nat %.3f (nat/direct %.2f)\n",
				r.name, rate[0], rate[1], r.unit, rate[1]/rate[0], r.cpuUnit, cpu[0], cpu[1], cpu[1]/cpu[0])
		}
	}
}
