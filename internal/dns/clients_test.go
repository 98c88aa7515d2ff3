package dns

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// clientEnv is what every real-client test runs against:
//   - main:     snapshot loaded, no upstreams; vpc-a on addrA, vpc-b on addrB
//   - fwd:      snapshot loaded, the fake upstream; vpc-a on addrFwd
//   - notReady: no snapshot yet; vpc-a on addrNotReady
type clientEnv struct {
	main, fwd, notReady   *Server
	addrA, addrB          string
	addrFwd, addrNotReady string
	upstream              *fakeUpstream
	swapServer            *Server // private to the swap check
	addrSwap              string
}

func newClientEnv(t *testing.T) *clientEnv {
	e := &clientEnv{upstream: startUpstream(t, false)}
	e.main = newServer(t, Config{}, testSnapshot(11))
	e.addrA = serveVPC(t, e.main, vpcA)
	e.addrB = serveVPC(t, e.main, vpcB)
	e.fwd = newServer(t, Config{Upstreams: []string{e.upstream.addr}}, testSnapshot(11))
	e.addrFwd = serveVPC(t, e.fwd, vpcA)
	e.notReady = newServer(t, Config{}, nil)
	e.addrNotReady = serveVPC(t, e.notReady, vpcA)
	e.swapServer = newServer(t, Config{}, testSnapshot(1))
	e.addrSwap = serveVPC(t, e.swapServer, vpcA)
	return e
}

// swapTo installs a snapshot in which ep-1 has exactly ip.
func (e *clientEnv) swapTo(rev int64, ip string) {
	snap := testSnapshot(rev)
	snap.Views[vpcA][ep1] = []netip.Addr{netip.MustParseAddr(ip)}
	e.swapServer.SetSnapshot(snap)
}

func TestMiekgClient(t *testing.T) {
	e := newClientEnv(t)
	t.Run("endpoint returns both IPs", func(t *testing.T) {
		check(t, exchange(t, "udp", e.addrA, ep1, mdns.TypeA), want{aa: true, answers: ep1IPs, nAns: 2}, DefaultTTL)
	})
	t.Run("other VPC gets NXDOMAIN", func(t *testing.T) {
		check(t, exchange(t, "udp", e.addrB, ep1, mdns.TypeA), want{rcode: mdns.RcodeNameError, aa: true, soaNs: true}, DefaultTTL)
	})
	t.Run("AAAA NODATA with SOA", func(t *testing.T) {
		check(t, exchange(t, "udp", e.addrA, ep1, mdns.TypeAAAA), want{aa: true, soaNs: true}, DefaultTTL)
	})
	t.Run("apex SOA and NS", func(t *testing.T) {
		r := exchange(t, "udp", e.addrA, testZone, mdns.TypeSOA)
		if soa := soaOf(r.Answer); soa == nil || soa.Serial != 11 || !r.Authoritative {
			t.Errorf("SOA: %v", r)
		}
		r = exchange(t, "tcp", e.addrA, testZone, mdns.TypeNS)
		if len(r.Answer) != 1 || r.Answer[0].(*mdns.NS).Ns != "ns."+testZone || !r.Authoritative {
			t.Errorf("NS: %v", r)
		}
	})
	t.Run("out of zone REFUSED without upstream", func(t *testing.T) {
		if r := exchange(t, "udp", e.addrA, "example.com.", mdns.TypeA); r.Rcode != mdns.RcodeRefused {
			t.Errorf("%v", r)
		}
	})
	t.Run("out of zone forwarded", func(t *testing.T) {
		r := exchange(t, "udp", e.addrFwd, "example.com.", mdns.TypeA)
		if !aSet(r.Answer)["192.0.2.1"] || r.Rcode != mdns.RcodeSuccess {
			t.Errorf("%v", r)
		}
	})
	t.Run("TC over UDP, full over TCP", func(t *testing.T) {
		r := exchange(t, "udp", e.addrA, epBig, mdns.TypeA, withEDNS(1232, false))
		if !r.Truncated || len(r.Answer) >= 100 {
			t.Errorf("UDP: TC %v answers %d", r.Truncated, len(r.Answer))
		}
		r = exchange(t, "tcp", e.addrA, epBig, mdns.TypeA)
		if r.Truncated || len(r.Answer) != 100 {
			t.Errorf("TCP: TC %v answers %d", r.Truncated, len(r.Answer))
		}
	})
	t.Run("snapshot swap visible to next query", func(t *testing.T) {
		for i, ip := range []string{"10.7.0.1", "10.7.0.2", "10.7.0.3"} {
			e.swapTo(int64(100+i), ip)
			r := exchange(t, "udp", e.addrSwap, ep1, mdns.TypeA)
			if got := aSet(r.Answer); len(got) != 1 || !got[ip] {
				t.Fatalf("after swap to %s: %v", ip, got)
			}
			if soa := soaOf(exchange(t, "udp", e.addrSwap, testZone, mdns.TypeSOA).Answer); soa.Serial != uint32(100+i) {
				t.Fatalf("serial %d", soa.Serial)
			}
		}
	})
	t.Run("SERVFAIL before first snapshot", func(t *testing.T) {
		if r := exchange(t, "udp", e.addrNotReady, ep1, mdns.TypeA); r.Rcode != mdns.RcodeServerFailure {
			t.Errorf("%v", r)
		}
	})
}

// goResolver returns a pure-Go net.Resolver that talks only to addr and
// records which networks it dialed.
func goResolver(addr string) (*net.Resolver, func() []string) {
	var mu sync.Mutex
	var dialed []string
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			mu.Lock()
			dialed = append(dialed, network)
			mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	return r, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(dialed) }
}

func lookup4(t *testing.T, addr, name string) ([]netip.Addr, error) {
	t.Helper()
	r, _ := goResolver(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.LookupNetIP(ctx, "ip4", name)
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func TestGoResolver(t *testing.T) {
	e := newClientEnv(t)
	ctx := context.Background()
	t.Run("endpoint returns both IPs", func(t *testing.T) {
		ips, err := lookup4(t, e.addrA, ep1)
		if err != nil || len(ips) != 2 || !slices.Contains(ips, ip1) || !slices.Contains(ips, ip2) {
			t.Errorf("ips %v err %v", ips, err)
		}
	})
	t.Run("other VPC gets NXDOMAIN", func(t *testing.T) {
		if _, err := lookup4(t, e.addrB, ep1); !isNotFound(err) {
			t.Errorf("err = %v, want not found", err)
		}
	})
	t.Run("AAAA NODATA", func(t *testing.T) {
		r, _ := goResolver(e.addrA)
		ips, err := r.LookupNetIP(ctx, "ip6", ep1)
		if !isNotFound(err) || len(ips) != 0 {
			t.Errorf("ips %v err %v", ips, err)
		}
		// Dual-stack lookup: AAAA NODATA must not spoil the A answers.
		all, err := r.LookupNetIP(ctx, "ip", ep1)
		if err != nil || len(all) != 2 {
			t.Errorf("ip lookup: %v %v", all, err)
		}
	})
	t.Run("apex NS", func(t *testing.T) {
		r, _ := goResolver(e.addrA)
		ns, err := r.LookupNS(ctx, testZone)
		if err != nil || len(ns) != 1 || ns[0].Host != "ns."+testZone {
			t.Errorf("ns %v err %v", ns, err)
		}
		// net.Resolver has no SOA lookup; SOA is covered by miekg and dig.
	})
	t.Run("out of zone REFUSED without upstream", func(t *testing.T) {
		_, err := lookup4(t, e.addrA, "example.com.")
		if err == nil || isNotFound(err) {
			t.Errorf("err = %v, want a server error", err)
		}
	})
	t.Run("out of zone forwarded", func(t *testing.T) {
		ips, err := lookup4(t, e.addrFwd, "example.com.")
		if err != nil || len(ips) != 1 || ips[0] != netip.MustParseAddr("192.0.2.1") {
			t.Errorf("ips %v err %v", ips, err)
		}
	})
	t.Run("TC over UDP makes the resolver retry over TCP", func(t *testing.T) {
		r, dialed := goResolver(e.addrA)
		ips, err := r.LookupNetIP(ctx, "ip4", epBig)
		if err != nil || len(ips) != 100 {
			t.Errorf("got %d ips, err %v", len(ips), err)
		}
		if d := dialed(); !slices.Contains(d, "udp") || !slices.Contains(d, "tcp") {
			t.Errorf("dialed %v, want udp then tcp", d)
		}
	})
	t.Run("snapshot swap visible to next query", func(t *testing.T) {
		for i, ip := range []string{"10.8.0.1", "10.8.0.2"} {
			e.swapTo(int64(200+i), ip)
			ips, err := lookup4(t, e.addrSwap, ep1)
			if err != nil || len(ips) != 1 || ips[0].String() != ip {
				t.Fatalf("after swap to %s: %v %v", ip, ips, err)
			}
		}
	})
	t.Run("SERVFAIL before first snapshot", func(t *testing.T) {
		_, err := lookup4(t, e.addrNotReady, ep1)
		var de *net.DNSError
		if !errors.As(err, &de) || de.IsNotFound || !de.IsTemporary {
			t.Errorf("err = %#v, want temporary server failure", err)
		}
	})
}

// dig output, parsed.
type digResult struct {
	status    string
	flags     []string
	answer    []string // RR lines
	authority []string
	out       string
}

var (
	digStatusRE = regexp.MustCompile(`status: ([A-Z]+)`)
	digFlagsRE  = regexp.MustCompile(`;; flags: ([a-z ]+);`)
)

func runDig(t *testing.T, addr string, args ...string) digResult {
	t.Helper()
	path, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig not installed (Debian: apt-get install bind9-dnsutils); skipping dig tests")
	}
	host, port, _ := net.SplitHostPort(addr)
	full := append([]string{"@" + host, "-p", port, "+tries=1", "+time=5"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, full...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", full, err, out)
	}
	res := digResult{out: string(out)}
	// With a TCP retry dig prints two messages; the last one counts.
	if m := digStatusRE.FindAllStringSubmatch(res.out, -1); len(m) > 0 {
		res.status = m[len(m)-1][1]
	}
	if m := digFlagsRE.FindAllStringSubmatch(res.out, -1); len(m) > 0 {
		res.flags = strings.Fields(m[len(m)-1][1])
	}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(res.out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, ";; ANSWER SECTION"):
			section, res.answer = "answer", nil
		case strings.HasPrefix(line, ";; AUTHORITY SECTION"):
			section, res.authority = "authority", nil
		case line == "" || strings.HasPrefix(line, ";"):
			section = ""
		case section == "answer":
			res.answer = append(res.answer, line)
		case section == "authority":
			res.authority = append(res.authority, line)
		}
	}
	return res
}

func (d digResult) hasFlag(f string) bool { return slices.Contains(d.flags, f) }

// rrs returns the rdata of the lines of the given type.
func digRdata(lines []string, typ string) []string {
	var out []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 5 && f[3] == typ {
			out = append(out, strings.Join(f[4:], " "))
		}
	}
	return out
}

func TestDig(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed (Debian: apt-get install bind9-dnsutils); skipping dig tests")
	}
	e := newClientEnv(t)
	t.Run("endpoint returns both IPs", func(t *testing.T) {
		d := runDig(t, e.addrA, ep1, "A")
		got := digRdata(d.answer, "A")
		slices.Sort(got)
		if d.status != "NOERROR" || !d.hasFlag("aa") || !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) {
			t.Errorf("status %s flags %v answers %v\n%s", d.status, d.flags, got, d.out)
		}
		if f := strings.Fields(d.answer[0]); f[1] != "5" {
			t.Errorf("TTL %s, want 5", f[1])
		}
	})
	t.Run("other VPC gets NXDOMAIN", func(t *testing.T) {
		d := runDig(t, e.addrB, ep1, "A")
		if d.status != "NXDOMAIN" || len(digRdata(d.authority, "SOA")) != 1 {
			t.Errorf("%s", d.out)
		}
	})
	t.Run("AAAA NODATA with SOA", func(t *testing.T) {
		d := runDig(t, e.addrA, ep1, "AAAA")
		if d.status != "NOERROR" || len(d.answer) != 0 || len(digRdata(d.authority, "SOA")) != 1 || !d.hasFlag("aa") {
			t.Errorf("%s", d.out)
		}
	})
	t.Run("apex SOA and NS", func(t *testing.T) {
		d := runDig(t, e.addrA, testZone, "SOA")
		soa := digRdata(d.answer, "SOA")
		if len(soa) != 1 || !strings.HasPrefix(soa[0], "ns."+testZone+" hostmaster."+testZone+" 11 ") || !d.hasFlag("aa") {
			t.Errorf("%s", d.out)
		}
		d = runDig(t, e.addrA, testZone, "NS")
		if ns := digRdata(d.answer, "NS"); len(ns) != 1 || ns[0] != "ns."+testZone {
			t.Errorf("%s", d.out)
		}
	})
	t.Run("out of zone REFUSED without upstream", func(t *testing.T) {
		if d := runDig(t, e.addrA, "example.com", "A"); d.status != "REFUSED" {
			t.Errorf("%s", d.out)
		}
	})
	t.Run("out of zone forwarded", func(t *testing.T) {
		d := runDig(t, e.addrFwd, "example.com", "A")
		if a := digRdata(d.answer, "A"); d.status != "NOERROR" || len(a) != 1 || a[0] != "192.0.2.1" {
			t.Errorf("%s", d.out)
		}
	})
	t.Run("TC over UDP, full over TCP", func(t *testing.T) {
		d := runDig(t, e.addrA, "+notcp", "+ignore", epBig, "A")
		if !d.hasFlag("tc") || len(d.answer) >= 100 {
			t.Errorf("UDP: flags %v answers %d\n%s", d.flags, len(d.answer), d.out)
		}
		d = runDig(t, e.addrA, "+tcp", epBig, "A")
		if d.hasFlag("tc") || len(digRdata(d.answer, "A")) != 100 {
			t.Errorf("TCP: flags %v answers %d", d.flags, len(d.answer))
		}
		d = runDig(t, e.addrA, epBig, "A") // dig itself retries over TCP
		if !strings.Contains(d.out, "Truncated, retrying in TCP mode") || len(digRdata(d.answer, "A")) != 100 {
			t.Errorf("auto retry: answers %d\n%s", len(d.answer), d.out)
		}
	})
	t.Run("snapshot swap visible to next query", func(t *testing.T) {
		for i, ip := range []string{"10.6.0.1", "10.6.0.2"} {
			e.swapTo(int64(300+i), ip)
			d := runDig(t, e.addrSwap, ep1, "A")
			if a := digRdata(d.answer, "A"); len(a) != 1 || a[0] != ip {
				t.Fatalf("after swap to %s: %s", ip, d.out)
			}
		}
	})
	t.Run("SERVFAIL before first snapshot", func(t *testing.T) {
		if d := runDig(t, e.addrNotReady, ep1, "A"); d.status != "SERVFAIL" {
			t.Errorf("%s", d.out)
		}
	})
}
