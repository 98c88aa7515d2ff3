package agent_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	proxyproto "github.com/pires/go-proxyproto"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/testenv"
)

// TestUDPService runs a service with 53/tcp, 53/udp and 7/udp through an
// endpoint, with real clients in the consumer host's namespace: dig over
// UDP and TCP to miekg/dns servers in the provider's hosts, a bounded UDP
// echo load (loss and reordering counted), idle timeout, failover of new
// flows when a backend's port closes, the security group's UDP rule
// removed (live flows cut at once) and restored, PROXY v2 over UDP parsed
// by go-proxyproto on the backend, and revocation of the connection.
func TestUDPService(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Fatalf("dig is not installed (dnsutils): %v", err)
	}
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, Port: 53, UDPPorts: []int{53, 7}})
	if got := s.Service.UDPPorts; len(got) != 2 {
		t.Fatalf("service UDP ports %v", got)
	}
	ep := s.WaitEndpoint(t, testenv.Active)
	eni := ep.Zones[0].IP
	echoes := map[string]*hostEcho{}
	for i, h := range s.ProviderHosts {
		serveDNS(t, e, h.HostID, netip.AddrFrom4([4]byte{10, 9, 9, byte(i + 1)}))
		echoes[h.Name] = serveEcho(t, e, h.HostID, h.Name)
	}
	consumer := s.ConsumerHost.HostID
	top := t // for what must outlive a subtest

	t.Run("dig over udp and tcp", func(t *testing.T) {
		for _, proto := range []string{"+notcp", "+tcp"} {
			testenv.Eventually(t, "dig "+proto, func() error {
				out, err := e.Driver.Sockets.ExecCommand(bg, consumer, []string{"dig", proto, "+short", "+tries=1", "+time=2", "@" + eni.String(), "db.example", "A"}).CombinedOutput()
				if got := strings.TrimSpace(string(out)); err != nil || !strings.HasPrefix(got, "10.9.9.") {
					return fmt.Errorf("dig %s: %q %v", proto, got, err)
				}
				return nil
			})
		}
	})

	c := udpFrom(t, e, consumer)
	to := netip.AddrPortFrom(eni, 7)
	t.Run("echo load", func(t *testing.T) {
		testenv.Eventually(t, "echo answers", func() error { _, err := udpAsk(c, to, "hi"); return err })
		const total, window = 1000, 32
		var seen [total]bool
		got, reordered, last, sent := 0, 0, -1, 0
		buf := make([]byte, 256)
		for got < total && sent < total {
			for sent < total && sent-got < window {
				p := make([]byte, 64)
				binary.BigEndian.PutUint32(p, uint32(sent))
				_, err := c.WriteToUDPAddrPort(p, to)
				must(t, err)
				sent++
			}
			for got < sent {
				c.SetReadDeadline(time.Now().Add(time.Second))
				n, err := c.Read(buf)
				if err != nil {
					break
				}
				_, payload, ok := bytes.Cut(buf[:n], []byte("|"))
				if !ok || len(payload) != 64 {
					t.Fatalf("reply %q", buf[:n])
				}
				seq := int(binary.BigEndian.Uint32(payload))
				if seq >= total || seen[seq] {
					t.Fatalf("duplicate or bogus sequence %d", seq)
				}
				seen[seq] = true
				if seq < last {
					reordered++
				}
				last = max(last, seq)
				got++
			}
		}
		t.Logf("%d datagrams of 64 B through the endpoint, window %d: %d lost, %d reordered", total, window, total-got, reordered)
		if total-got > total/50 {
			t.Errorf("%d of %d datagrams lost", total-got, total)
		}
	})

	t.Run("idle timeout", func(t *testing.T) {
		one := 1
		_, err := s.Provider.UpdateService(bg, s.Service.ServiceID, api.UpdateServiceRequest{UDPIdleTimeout: &one})
		must(t, err)
		c2 := udpFrom(t, e, consumer)
		// The agent applies the change to every flow; wait until a flow
		// left idle for 2.5 s is gone: the next datagram opens a new one
		// (counted in privlink_proxy_connections_total; the backend-side
		// port cannot tell, the kernel may hand the new socket the same).
		flows := func() float64 { return flowsTotal(t, e, s.Endpoint.EndpointID) }
		testenv.Eventually(t, "a flow with the 1 s idle timeout", func() error {
			if _, err := udpAsk(c2, to, "x"); err != nil {
				return err
			}
			before := flows()
			time.Sleep(2500 * time.Millisecond) // 1 s idle + a 250 ms sweep, with room for a slow sweep on a loaded machine
			if _, err := udpAsk(c2, to, "x"); err != nil {
				return err
			}
			if after := flows(); after <= before {
				return fmt.Errorf("no new flow after 2.5 s idle (flows %v then %v)", before, after)
			}
			return nil
		})
		// Traffic keeps a flow alive: no new flow across 2 s of datagrams.
		_, err = udpAsk(c2, to, "x")
		must(t, err)
		before := flows()
		for range 20 { // a datagram every 100 ms (plus its round trip, long on a loaded machine) against the 1 s timeout
			time.Sleep(100 * time.Millisecond)
			_, err := udpAsk(c2, to, "x")
			must(t, err)
		}
		if after := flows(); after != before {
			t.Fatalf("busy flow replaced: flows %v then %v", before, after)
		}
	})

	t.Run("failover for new flows", func(t *testing.T) {
		c3 := udpFrom(t, e, consumer)
		r, err := udpAsk(c3, to, "x")
		must(t, err)
		name, _, _ := strings.Cut(r, " ")
		echoes[name].stop()
		defer func() { echoes[name] = serveEcho(top, e, hostIDOf(s.ProviderHosts, name), name) }()
		testenv.Eventually(t, "another backend answers", func() error {
			r, err := udpAsk(c3, to, "x")
			if err != nil {
				return err
			}
			if got, _, _ := strings.Cut(r, " "); got == name {
				return fmt.Errorf("still %s", got)
			}
			return nil
		})
	})

	t.Run("security group removal cuts flows", func(t *testing.T) {
		c4 := udpFrom(t, e, consumer)
		testenv.Eventually(t, "flow up", func() error { _, err := udpAsk(c4, to, "x"); return err })
		rule := model.SecurityGroupRule{Protocol: "udp", PortRange: "7/7", SourceCidr: s.ConsumerVPC.CidrBlock.String(), Policy: "accept", Priority: 1}
		_, err := s.Consumer.RevokeSecurityGroup(bg, s.SG.SecurityGroupID, api.RulesRequest{Rules: []model.SecurityGroupRule{rule}})
		must(t, err)
		testenv.Eventually(t, "flow cut", func() error {
			if r, err := udpAsk(c4, to, "x"); err == nil {
				return fmt.Errorf("still answered %q", r)
			}
			return nil
		})
		// DNS on 53/udp keeps its own rule.
		if _, err := udpAsk(udpFrom(t, e, consumer), netip.AddrPortFrom(eni, 53), "not dns"); err == nil {
			t.Log("53/udp answered a non-DNS datagram") // miekg drops it: no answer expected either way
		}
		_, err = s.Consumer.AuthorizeSecurityGroup(bg, s.SG.SecurityGroupID, api.RulesRequest{Rules: []model.SecurityGroupRule{rule}})
		must(t, err)
		testenv.Eventually(t, "flow back", func() error { _, err := udpAsk(c4, to, "x"); return err })
	})

	t.Run("PROXY v2 on the first datagram", func(t *testing.T) {
		on := true
		_, err := s.Provider.UpdateService(bg, s.Service.ServiceID, api.UpdateServiceRequest{ProxyProtocol: &on})
		must(t, err)
		want := "proxy " + s.ConsumerHost.IP.String() + " " + s.Endpoint.EndpointID
		testenv.Eventually(t, "backend sees the PROXY header", func() error {
			c5 := udpFrom(t, e, consumer) // a new flow each try
			defer c5.Close()
			r, err := udpAsk(c5, to, "x")
			if err != nil {
				return err
			}
			if _, tail, _ := strings.Cut(r, " "); !strings.HasPrefix(tail, want) {
				return fmt.Errorf("first reply %q, want %q", r, want)
			}
			r, err = udpAsk(c5, to, "y")
			if err != nil {
				return err
			}
			if strings.Contains(r, "proxy") {
				return fmt.Errorf("second datagram carried a header too: %q", r)
			}
			return nil
		})
	})

	t.Run("revocation removes flows", func(t *testing.T) {
		c6 := udpFrom(t, e, consumer)
		testenv.Eventually(t, "flow up", func() error { _, err := udpAsk(c6, to, "x"); return err })
		_, err := s.Provider.RejectConnection(bg, s.Service.ServiceID, s.Endpoint.EndpointID)
		must(t, err)
		testenv.Eventually(t, "flow gone", func() error {
			if r, err := udpAsk(c6, to, "x"); err == nil {
				return fmt.Errorf("still answered %q", r)
			}
			return nil
		})
	})
}

// serveDNS runs miekg/dns on port 53 (UDP and TCP) of a host, answering
// db.example. A with a.
func serveDNS(t *testing.T, e *testenv.Env, hostID string, a netip.Addr) {
	t.Helper()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Name == "db.example." && q.Question[0].Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: "db.example.", Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: a.AsSlice()})
		}
		_ = w.WriteMsg(m)
	})
	pc, err := e.Driver.Sockets.ListenPacketHost(hostID, mustAP("0.0.0.0:53"))
	must(t, err)
	ln, err := e.Driver.Sockets.ListenHost(hostID, mustAP("0.0.0.0:53"))
	must(t, err)
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.ActivateAndServe() }()
		t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	}
}

// hostEcho answers each datagram on port 7 of a host with
// "<name> <source port>|<payload>", or, when the datagram starts with a
// PROXY v2 header, "<name> proxy <source IP> <endpoint ID>|<payload>".
type hostEcho struct {
	pc   net.PacketConn
	wg   sync.WaitGroup
	once sync.Once
}

func serveEcho(t *testing.T, e *testenv.Env, hostID, name string) *hostEcho {
	t.Helper()
	pc, err := e.Driver.Sockets.ListenPacketHost(hostID, mustAP("0.0.0.0:7"))
	must(t, err)
	h := &hostEcho{pc: pc}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			p := buf[:n]
			tag := fmt.Sprintf("%s %d", name, from.(*net.UDPAddr).Port)
			if bytes.HasPrefix(p, []byte("\r\n\r\n\x00\r\nQUIT\n")) {
				br := bufio.NewReader(bytes.NewReader(p))
				hdr, err := proxyproto.Read(br)
				if err != nil {
					tag = name + " badproxy " + err.Error()
				} else {
					tlvs, _ := hdr.TLVs()
					var epID string
					for _, tl := range tlvs {
						if len(tl.Value) > 1 && tl.Value[0] == 0x02 {
							epID = string(tl.Value[1:])
						}
					}
					p, _ = br.Peek(br.Buffered())
					tag = fmt.Sprintf("%s proxy %s %s %q", name, hdr.SourceAddr.(*net.UDPAddr).IP, epID, p)
				}
			}
			_, _ = pc.WriteTo(append([]byte(tag+"|"), p...), from)
		}
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *hostEcho) stop() { h.once.Do(func() { h.pc.Close(); h.wg.Wait() }) }

func hostIDOf(hosts []model.Host, name string) string {
	for _, h := range hosts {
		if h.Name == name {
			return h.HostID
		}
	}
	return ""
}

// udpFrom is an unconnected UDP socket in a host.
func udpFrom(t *testing.T, e *testenv.Env, hostID string) *net.UDPConn {
	t.Helper()
	pc, err := e.Driver.Sockets.ListenPacketHost(hostID, mustAP("0.0.0.0:0"))
	must(t, err)
	t.Cleanup(func() { pc.Close() })
	return pc.(*net.UDPConn)
}

// udpAsk sends p to and returns the reply's text before "|".
func udpAsk(c *net.UDPConn, to netip.AddrPort, p string) (string, error) {
	if _, err := c.WriteToUDPAddrPort([]byte(p), to); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	buf := make([]byte, 2048)
	var other string
	for {
		n, err := c.Read(buf)
		if err != nil {
			if other != "" {
				return "", fmt.Errorf("%w (other replies: %q)", err, other)
			}
			return "", err
		}
		tag, payload, _ := bytes.Cut(buf[:n], []byte("|"))
		if string(payload) == p {
			return string(tag), nil
		}
		// a late reply to an earlier question: read on
		other = string(tag)
	}
}

// flowsTotal sums privlink_proxy_connections_total (TCP connections and UDP
// flows opened) over the endpoint's series.
func flowsTotal(t *testing.T, e *testenv.Env, epID string) float64 {
	t.Helper()
	var sum float64
	for _, line := range strings.Split(scrape(t, e), "\n") {
		if strings.HasPrefix(line, "privlink_proxy_connections_total{") && strings.Contains(line, `endpoint_id="`+epID+`"`) {
			if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}
