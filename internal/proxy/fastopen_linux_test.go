//go:build linux

package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"
)

// TestServerSpeaksFirst: a backend that sends a banner before the client
// says anything (SSH, SMTP, MySQL) is served at once through the proxy,
// with and without a PROXY header: the proxy must not wait for consumer
// bytes before it connects to the backend (a Fast Open connect deferred to
// the first write, TCP_FASTOPEN_CONNECT, would never connect here; a
// TCP_DEFER_ACCEPT listener would hold the connection for at least the
// 1 s SYN-ACK retransmission, which this test does not time).
func TestServerSpeaksFirst(t *testing.T) {
	for _, pp := range []bool{false, true} {
		t.Run(fmt.Sprintf("proxy-protocol=%v", pp), func(t *testing.T) {
			checkGoroutines(t)
			srv := startServer(t, pp, func(c net.Conn) {
				if _, err := io.WriteString(c, "220 banner\n"); err != nil {
					return
				}
				echo(c)
			})
			cfg := Config{EndpointID: "ep-banner", ZoneID: "a", ProxyProtocol: pp,
				Backends: []Backend{{ZoneID: "a", Addr: srv.addr()}}}
			_, addr := startProxy(t, cfg, nil, nil)
			c := dial(t, addr)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			if line, err := br.ReadString('\n'); err != nil || line != "220 banner\n" {
				t.Fatalf("banner: %q, %v (the proxy did not connect before the client spoke)", line, err)
			}
			if _, err := io.WriteString(c, "hello\n"); err != nil {
				t.Fatal(err)
			}
			if line, err := br.ReadString('\n'); err != nil || line != "hello\n" {
				t.Fatalf("echo after the banner: %q, %v", line, err)
			}
		})
	}
}

// fastOpenNS is a network namespace with TCP Fast Open enabled for servers
// and clients, and a goroutine locked in it that creates sockets there.
type fastOpenNS struct {
	name string
	reqs chan func()
}

func newFastOpenNS(t testing.TB) *fastOpenNS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace (run the suite as root, as CI does)")
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	ns := &fastOpenNS{name: "plt" + hex.EncodeToString(b[:]) + "-tfo", reqs: make(chan func())}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	run("ip", "netns", "add", ns.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.name).Run() })
	run("ip", "-n", ns.name, "link", "set", "lo", "up")
	run("ip", "netns", "exec", ns.name, "sysctl", "-q", "-w", "net.ipv4.tcp_fastopen=3")
	f, err := os.Open("/run/netns/" + ns.name)
	if err != nil {
		t.Fatal(err)
	}
	ready, done := make(chan error), make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		close(ready)
		for {
			select {
			case fn := <-ns.reqs:
				fn()
			case <-done:
				return
			}
		}
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(done) })
	return ns
}

// in runs fn on the thread inside the namespace.
func (ns *fastOpenNS) in(fn func()) {
	ran := make(chan struct{})
	ns.reqs <- func() { fn(); close(ran) }
	<-ran
}

// socket is the proxy's SocketFunc: backend sockets in the namespace.
func (ns *fastOpenNS) socket(a netip.AddrPort) (fd int, to netip.AddrPort, err error) {
	ns.in(func() { fd, to, err = Socket(a) })
	return
}

// listen serves an echo (behind a PROXY header if pp) on 127.0.0.1 in the
// namespace with TCP_FASTOPEN on the listening socket.
func (ns *fastOpenNS) listen(t testing.TB, pp bool) netip.AddrPort {
	t.Helper()
	var (
		ln  net.Listener
		err error
	)
	ns.in(func() {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN, 64)
			}); err != nil {
				return err
			}
			return serr
		}}
		ln, err = lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				if pp {
					c = proxyproto.NewConn(c, proxyproto.SetReadHeaderTimeout(5*time.Second))
				}
				echo(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// tcpExt reads a TcpExt counter of the namespace.
func (ns *fastOpenNS) tcpExt(t testing.TB, name string) int64 {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns.name, "cat", "/proc/net/netstat").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "TcpExt:") {
			continue
		}
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := range names {
			if names[j] == name && j < len(vals) {
				v, _ := strconv.ParseInt(vals[j], 10, 64)
				return v
			}
		}
	}
	t.Fatalf("no TcpExt counter %s in the namespace", name)
	return 0
}

// TestFastOpenHeaderInSYN: with a backend that accepts TCP Fast Open, the
// PROXY header (and what the consumer has sent by then) reaches the backend
// in the SYN from the second connection on (the first fetches the cookie),
// the exchange is intact, and a refused first candidate is still retried
// on the next backend with the bytes that rode in the failed SYN.
func TestFastOpenHeaderInSYN(t *testing.T) {
	if listenerOpts == nil {
		t.Skip("Fast Open is part of the event-loop engine")
	}
	if !fastOpen {
		t.Skip("PRIVLINK_PROXY_FASTOPEN=0")
	}
	checkGoroutines(t)
	ns := newFastOpenNS(t)
	good := ns.listen(t, true)
	port := freeLoopbackPort(t)
	for port == int(good.Port()) {
		port = freeLoopbackPort(t)
	}
	refused := netip.AddrPortFrom(good.Addr(), uint16(port))
	exchangeN := func(t *testing.T, cfg Config, n int) {
		_, addr := startProxy(t, cfg, nil, nil, WithSockets(ns.socket))
		for i := range n {
			msg := fmt.Sprintf("message %d", i)
			if got, err := echoOnce(addr, msg); err != nil || got != msg {
				t.Fatalf("exchange %d: got %q, %v; want %q", i, got, err, msg)
			}
		}
	}
	const n = 20
	t.Run("header in SYN", func(t *testing.T) {
		before := ns.tcpExt(t, "TCPFastOpenPassive")
		exchangeN(t, Config{EndpointID: "ep-tfo", ZoneID: "a", ProxyProtocol: true,
			Backends: []Backend{{ZoneID: "a", Addr: good}}}, n)
		if got := ns.tcpExt(t, "TCPFastOpenPassive") - before; got < n-1 {
			t.Errorf("%d of %d connections reached the backend with data in the SYN, want at least %d", got, n, n-1)
		}
	})
	t.Run("refused candidate retried", func(t *testing.T) {
		// The cookie is per backend IP: SYNs to the refused port carry the
		// header too, get a reset, and the flow goes on to the good one.
		exchangeN(t, Config{EndpointID: "ep-tfo-retry", ZoneID: "a", ProxyProtocol: true,
			Backends: []Backend{{ZoneID: "a", Addr: refused}, {ZoneID: "a", Addr: good}}}, n)
	})
}

// freeLoopbackPort returns a port nothing listens on (in the root
// namespace; the test namespace has no listeners but the test's own).
func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// echoOnce dials addr, writes msg and returns what comes back.
func echoOnce(addr, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	b := make([]byte, len(msg))
	_, err = io.ReadFull(c, b)
	return string(b), err
}

// BenchmarkFastOpen: one connection at a time (connect, 64 B request, 64 B
// echo, close) through the engine to a Fast Open backend in a namespace,
// with Fast Open off and on; -count N alternates them. synData/op is the
// share of connections whose first bytes reached the backend in the SYN.
//
//	go test -run '^$' -bench FastOpen -count 5 ./internal/proxy/
func BenchmarkFastOpen(b *testing.B) {
	if listenerOpts == nil {
		b.Skip("Fast Open is part of the event-loop engine")
	}
	ns := newFastOpenNS(b)
	backend := ns.listen(b, false)
	was := fastOpen
	b.Cleanup(func() { fastOpen = was })
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("fastopen=%v", on), func(b *testing.B) {
			fastOpen = on
			_, addr := startProxy(b, Config{EndpointID: "ep-bench-tfo", ZoneID: "a",
				Backends: []Backend{{ZoneID: "a", Addr: backend}}}, nil, nil, WithSockets(ns.socket))
			msg := strings.Repeat("x", 64)
			before := ns.tcpExt(b, "TCPFastOpenPassive")
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if got, err := echoOnce(addr, msg); err != nil || got != msg {
					b.Fatalf("got %q, %v", got, err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
			b.ReportMetric(float64(ns.tcpExt(b, "TCPFastOpenPassive")-before)/float64(b.N), "synData/op")
		})
	}
}

// TestFirstBytesLearns: a Listener stops reading before the dial when that
// read keeps finding nothing (a server-speaks-first protocol: one EAGAIN
// read per connection otherwise), still probes now and then, and starts
// again when the traffic turns client-first.
func TestFirstBytesLearns(t *testing.T) {
	var fb firstBytes
	count := func(n int, hit bool) (reads int) {
		for range n {
			if fb.want() {
				reads++
				fb.record(hit)
			}
		}
		return reads
	}
	if got := count(firstBytesLearn, false); got != firstBytesLearn {
		t.Fatalf("while learning: %d reads of %d connections, want all", got, firstBytesLearn)
	}
	if got := count(3200, false); got > 3200/firstBytesProbe+1 || got == 0 {
		t.Errorf("server-first traffic: %d reads of 3200 connections, want about %d (probes only)", got, 3200/firstBytesProbe)
	}
	count(20000, true) // client-first again: the probes find data
	if got := count(1000, true); got != 1000 {
		t.Errorf("client-first traffic after the switch: %d reads of 1000 connections, want all", got)
	}
}
