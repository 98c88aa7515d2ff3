package proxy

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
)

func TestProxyProtocolV2(t *testing.T) {
	checkGoroutines(t)
	headers := make(chan *proxyproto.Header, 1)
	srv := startServer(t, true, func(c net.Conn) {
		headers <- c.(*proxyproto.Conn).ProxyHeader()
		echo(c)
	})
	cfg := Config{EndpointID: "ep-123", ServiceID: "epsrv-456", VpcID: "vpc-789", ZoneID: "a",
		ProxyProtocol: true, ProxyTLVs: AllTLVs, Backends: []Backend{{ZoneID: "a", Addr: srv.addr()}}}
	_, addr := startProxy(t, cfg, nil, nil)
	c := dial(t, addr)
	if got := roundTrip(t, c, "payload after header"); got != "payload after header" {
		t.Fatalf("echo %q", got)
	}
	h := <-headers
	if h == nil {
		t.Fatal("backend saw no PROXY header")
	}
	if h.Version != 2 || h.Command != proxyproto.PROXY || h.TransportProtocol != proxyproto.TCPv4 {
		t.Errorf("version %d command %v transport %v", h.Version, h.Command, h.TransportProtocol)
	}
	if got, want := h.SourceAddr.String(), c.LocalAddr().String(); got != want {
		t.Errorf("source %s, want the consumer %s", got, want)
	}
	if got, want := h.DestinationAddr.String(), addr; got != want {
		t.Errorf("destination %s, want the endpoint %s", got, want)
	}
	tlvs, err := h.TLVs()
	if err != nil {
		t.Fatal(err)
	}
	want := []proxyproto.TLV{
		{Type: 0xE1, Value: []byte("\x01vpc-789")},
		{Type: 0xE1, Value: []byte("\x02ep-123")},
		{Type: 0xE1, Value: []byte("\x03epsrv-456")},
	}
	if len(tlvs) != len(want) {
		t.Fatalf("TLVs %v, want %v", tlvs, want)
	}
	for i := range want {
		if tlvs[i].Type != want[i].Type || !bytes.Equal(tlvs[i].Value, want[i].Value) {
			t.Errorf("TLV %d = %x %q, want %x %q", i, byte(tlvs[i].Type), tlvs[i].Value, byte(want[i].Type), want[i].Value)
		}
	}
}

// TestAppendProxyHeader checks the hand-rolled encoder against go-proxyproto.
func TestAppendProxyHeader(t *testing.T) {
	for _, tc := range []struct {
		name, src, dst string
		ids            [3]string
		fam            proxyproto.AddressFamilyAndProtocol
	}{
		{"ipv4", "192.168.1.10:40000", "10.0.0.5:443", [3]string{"vpc", "ep", "svc"}, proxyproto.TCPv4},
		{"ipv6", "[2001:db8::1]:40000", "[2001:db8::2]:443", [3]string{"vpc", "ep", "svc"}, proxyproto.TCPv6},
		{"mixed", "192.168.1.10:1", "[2001:db8::2]:443", [3]string{"vpc", "", "svc"}, proxyproto.TCPv6},
		{"mapped ipv4", "[::ffff:192.168.1.10]:1", "[::ffff:10.0.0.5]:2", [3]string{"", "", ""}, proxyproto.TCPv4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
			tlvs, err := encodeTLVs(tc.ids[0], tc.ids[1], tc.ids[2])
			if err != nil {
				t.Fatal(err)
			}
			got := appendProxyHeader(nil, src, dst, tlvs)

			ref := proxyproto.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(unmap(src)), net.TCPAddrFromAddrPort(unmap(dst)))
			var refTLVs []proxyproto.TLV
			for i, id := range tc.ids {
				if id != "" {
					refTLVs = append(refTLVs, proxyproto.TLV{Type: TLVTypeAlibaba, Value: append([]byte{byte(i + 1)}, id...)})
				}
			}
			if err := ref.SetTLVs(refTLVs); err != nil {
				t.Fatal(err)
			}
			want, err := ref.Format()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("header\n got %x\nwant %x", got, want)
			}
			parsed, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(got)))
			if err != nil {
				t.Fatal(err)
			}
			if parsed.TransportProtocol != tc.fam {
				t.Fatalf("transport %v, want %v", parsed.TransportProtocol, tc.fam)
			}
		})
	}
	t.Run("oversized TLVs rejected", func(t *testing.T) {
		if _, err := encodeTLVs(string(make([]byte, 5000)), "", ""); err == nil {
			t.Fatal("no error")
		}
	})
}

func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// TestProxyProtocolDestination: the header's destination is the address
// the consumer connected to, also when the listener is bound to the
// unspecified address (IPv6 consumer and IPv4 backend: IPv6 family).
func TestProxyProtocolDestination(t *testing.T) {
	for _, tc := range []struct {
		name, listen, dial string
		family             proxyproto.AddressFamilyAndProtocol
	}{
		{"unspecified listener", "0.0.0.0:0", "127.0.0.1", proxyproto.TCPv4},
		{"ipv6 consumer", "[::1]:0", "::1", proxyproto.TCPv6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			lc := ListenConfig()
			ln, err := lc.Listen(context.Background(), "tcp", tc.listen)
			if err != nil {
				t.Skipf("cannot listen on %s here: %v", tc.listen, err)
			}
			headers := make(chan *proxyproto.Header, 1)
			srv := startServer(t, true, func(c net.Conn) {
				headers <- c.(*proxyproto.Conn).ProxyHeader()
				echo(c)
			})
			cfg := Config{EndpointID: "ep-6", ZoneID: "a", ProxyProtocol: true, Backends: []Backend{{ZoneID: "a", Addr: srv.addr()}}}
			l := NewListener(ln, cfg, directDial, nil, nil, listenerOpts...)
			served := make(chan error, 1)
			go func() { served <- l.Serve() }()
			defer func() {
				l.Close()
				if err := <-served; err != nil {
					t.Errorf("Serve: %v", err)
				}
			}()
			port := ln.Addr().(*net.TCPAddr).Port
			c := dial(t, net.JoinHostPort(tc.dial, strconv.Itoa(port)))
			defer c.Close()
			if got := roundTrip(t, c, "hi"); got != "hi" {
				t.Fatalf("echo %q", got)
			}
			h := <-headers
			if h == nil {
				t.Fatal("backend saw no PROXY header")
			}
			if got, want := h.SourceAddr.String(), c.LocalAddr().String(); got != want {
				t.Errorf("source %s, want the consumer %s", got, want)
			}
			if got, want := h.DestinationAddr.String(), c.RemoteAddr().String(); got != want {
				t.Errorf("destination %s, want the address dialed %s", got, want)
			}
			if h.TransportProtocol != tc.family {
				t.Errorf("transport %v, want %v", h.TransportProtocol, tc.family)
			}
		})
	}
}
