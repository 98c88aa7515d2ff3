package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	proxyproto "github.com/pires/go-proxyproto"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/sampledb"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/testenv"
)

// TestDualStackEndpoint (root): a dualstack service's endpoint in a
// dual-stack consumer VPC, with IPv4 backends and with IPv6 backends (the
// provider hosts' IPv6 addresses). Each zone gets an IPv6 ENI in its
// vSwitch's /64; dig AAAA on the endpoint and zone domains from the
// consumer host answers them; a MySQL session (go-sql-driver over tcp6 to
// the AAAA name, and the mysql CLI on the AAAA answer) reaches the sample
// database, which reads the PROXY v2 header (go-proxyproto) and sees the
// consumer host's IPv6 address and the endpoint ID; the security group
// accepts and drops IPv6 sources by their prefixes while IPv4 is
// unaffected.
func TestDualStackEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name         string
		ipv6Backends bool
	}{{"ipv4 backends", false}, {"ipv6 backends", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.Start(t, testenv.Options{})
			s := buildDualStack(t, e, scenario.Options{AutoAccept: true, ProxyProtocol: true, IPv6Backends: tc.ipv6Backends, UDPPorts: []int{7}})
			for _, h := range s.ProviderHosts {
				startSampleDB(t, e, h.HostID)
				serveEcho6(t, e, h.HostID)
			}
			ep := s.WaitEndpoint(t, testenv.Active)
			var v6 []string
			for i, z := range ep.Zones {
				vsw := s.ConsumerVSwitches[i]
				if !vsw.Ipv6CidrBlock.Contains(z.Ipv6Address) || z.Ipv6Address == vsw.Ipv6Gateway {
					t.Fatalf("zone %s: IPv6 ENI %v is not a host address of %s", z.ZoneID, z.Ipv6Address, vsw.Ipv6CidrBlock)
				}
				v6 = append(v6, z.Ipv6Address.String())
			}
			slices.Sort(v6)
			host := s.ConsumerHost

			t.Run("dig AAAA", func(t *testing.T) {
				testenv.Eventually(t, "AAAA of the endpoint domain", func() error {
					got := digIn(t, e, host.HostID, "AAAA", ep.EndpointDomain)
					if !slices.Equal(got, v6) {
						return fmt.Errorf("dig AAAA %s = %v, want %v", ep.EndpointDomain, got, v6)
					}
					return nil
				})
				for _, z := range ep.Zones {
					if got := digIn(t, e, host.HostID, "AAAA", z.ZoneDomain); !slices.Equal(got, []string{z.Ipv6Address.String()}) {
						t.Errorf("dig AAAA %s = %v, want %s", z.ZoneDomain, got, z.Ipv6Address)
					}
					if got := digIn(t, e, host.HostID, "A", z.ZoneDomain); !slices.Equal(got, []string{z.IP.String()}) {
						t.Errorf("dig A %s = %v, want %s", z.ZoneDomain, got, z.IP)
					}
				}
			})

			t.Run("metrics show both addresses", func(t *testing.T) {
				for _, z := range ep.Zones {
					for fam, a := range map[string]netip.Addr{"ipv4": z.IP, "ipv6": z.Ipv6Address} {
						want := fmt.Sprintf(`privlink_endpoint_eni_info{address="%s",endpoint_id="%s",family="%s",zone_id="%s"} 1`, a, ep.EndpointID, fam, z.ZoneID)
						testenv.Eventually(t, "metric "+want, func() error {
							if !strings.Contains(scrape(t, e), want) {
								return fmt.Errorf("no %s", want)
							}
							return nil
						})
					}
				}
			})

			t.Run("udp over IPv6 with PROXY v2", func(t *testing.T) {
				pc, err := e.Driver.Sockets.ListenPacketHost(host.HostID, mustAP("[::]:0"))
				must(t, err)
				defer pc.Close()
				c := pc.(*net.UDPConn)
				to := netip.AddrPortFrom(ep.Zones[0].Ipv6Address, 7)
				want := fmt.Sprintf("proxy %s %s", host.Ipv6Address, ep.EndpointID)
				testenv.Eventually(t, "a UDP datagram over the IPv6 ENI", func() error {
					got, err := udpAsk(c, to, "v6 hello")
					if err != nil {
						return err
					}
					if got != want {
						return fmt.Errorf("the backend saw %q, want %q (PROXY v2 DGRAM over IPv6 on the first datagram)", got, want)
					}
					return nil
				})
			})

			t.Run("mysql over IPv6", func(t *testing.T) {
				var info connInfo
				testenv.Eventually(t, "go-sql-driver over tcp6", func() (err error) {
					info, err = queryOver(e, host.HostID, s.ConsumerVPC.VpcID, ep.EndpointDomain, "ip6")
					return err
				})
				if info.client != host.Ipv6Address.String() || info.endpoint != ep.EndpointID {
					t.Errorf("the database saw client %q endpoint %q, want %s and %s (PROXY v2 over IPv6)", info.client, info.endpoint, host.Ipv6Address, ep.EndpointID)
				}
				info, err := queryOver(e, host.HostID, s.ConsumerVPC.VpcID, ep.EndpointDomain, "ip4")
				if err != nil || info.client != host.IP.String() {
					t.Errorf("over IPv4 the database saw %q (%v), want %s", info.client, err, host.IP)
				}
				if _, err := exec.LookPath("mysql"); err != nil {
					t.Fatalf("the mysql client is not installed (scripts/install-deps.sh installs it): %v", err)
				}
				aaaa := digIn(t, e, host.HostID, "AAAA", ep.EndpointDomain)
				if len(aaaa) == 0 {
					t.Fatal("no AAAA answer")
				}
				out, err := e.Driver.Sockets.ExecCommand(bg, host.HostID, []string{"mysql", "--no-defaults", "-h", aaaa[0], "-P", "6001",
					"-u", "acct1:admin:accountadmin", "-psecret", "--skip-ssl", "-N", "-B", "demo",
					"-e", "SELECT client_addr, endpoint_id FROM privlink.connection_info"}).CombinedOutput()
				f := strings.Split(strings.TrimSpace(string(out)), "\t")
				if ap, perr := netip.ParseAddrPort(f[0]); err != nil || perr != nil || ap.Addr() != host.Ipv6Address || len(f) != 2 || f[1] != ep.EndpointID {
					t.Errorf("mysql -h %s: %v\n%s\nwant [%s]:<port>\t%s", aaaa[0], err, out, host.Ipv6Address, ep.EndpointID)
				}
			})

			t.Run("security group IPv6 prefixes", func(t *testing.T) {
				target6 := netip.AddrPortFrom(ep.Zones[0].Ipv6Address, 6001).String()
				target4 := netip.AddrPortFrom(ep.Zones[0].IP, 6001).String()
				sg := s.SG.SecurityGroupID
				six := "fc00::/7"
				rule := func(src, policy string, prio int) model.SecurityGroupRule {
					r := scenario.AcceptTCP(6001, 6001, src)
					r.Policy, r.Priority = policy, prio
					return r
				}
				change := func(revoke, add []model.SecurityGroupRule) {
					if len(revoke) > 0 {
						_, err := s.Consumer.RevokeSecurityGroup(bg, sg, api.RulesRequest{Rules: revoke})
						must(t, err)
					}
					if len(add) > 0 {
						_, err := s.Consumer.AuthorizeSecurityGroup(bg, sg, api.RulesRequest{Rules: add})
						must(t, err)
					}
				}
				served := func(target string, want bool) {
					t.Helper()
					testenv.Eventually(t, fmt.Sprintf("%s served=%v", target, want), func() error {
						err := greeting(e, host.HostID, target)
						if (err == nil) != want {
							return fmt.Errorf("greeting from %s: %v", target, err)
						}
						return nil
					})
				}
				served(target6, true)
				change([]model.SecurityGroupRule{rule(six, "accept", 1)}, nil) // IPv4 rules only now
				served(target6, false)
				served(target4, true)
				me := host.Ipv6Address.String() + "/128"
				change(nil, []model.SecurityGroupRule{rule(me, "accept", 1)})
				served(target6, true)
				change(nil, []model.SecurityGroupRule{rule(me, "drop", 1)}) // drop wins at equal priority
				served(target6, false)
				served(target4, true)
			})
		})
	}
}

// buildDualStack builds the canonical scenario with dual-stack VPCs and a
// dualstack service.
func buildDualStack(t *testing.T, e *testenv.Env, o scenario.Options) *testenv.Scenario {
	o.DualStack = true
	return testenv.BuildScenario(t, e, o)
}

// digIn runs dig +short in a host (its resolv.conf names the VPC's
// resolver) and returns the sorted answers.
func digIn(t *testing.T, e *testenv.Env, hostID, qtype, name string) []string {
	t.Helper()
	out, err := e.Driver.Sockets.ExecCommand(bg, hostID, []string{"dig", "+short", "+time=1", "+tries=2", qtype, name}).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s %s: %v\n%s", qtype, name, err, out)
	}
	f := strings.Fields(string(out))
	slices.Sort(f)
	return f
}

var (
	sampleDBOnce sync.Once
	sampleDBBin  string
	sampleDBErr  error
)

// startSampleDB runs cmd/privlink-sampledb (built once per test binary)
// in a host on [::]:6001, so it takes IPv4 and IPv6 connections.
func startSampleDB(t *testing.T, e *testenv.Env, hostID string) {
	t.Helper()
	sampleDBOnce.Do(func() {
		dir, err := os.MkdirTemp("", "privlink-agent-test")
		if err != nil {
			sampleDBErr = err
			return
		}
		sampleDBBin = filepath.Join(dir, "privlink-sampledb")
		if out, err := exec.Command("go", "build", "-o", sampleDBBin, "github.com/privlink/privlink/cmd/privlink-sampledb").CombinedOutput(); err != nil {
			sampleDBErr = fmt.Errorf("build privlink-sampledb: %v\n%s", err, out)
		}
	})
	if sampleDBErr != nil {
		t.Fatal(sampleDBErr)
	}
	testenv.Eventually(t, "host "+hostID, func() error {
		if !e.Driver.Sockets.HasHost(hostID) {
			return errors.New("not there yet")
		}
		return nil
	})
	cmd := e.Driver.Sockets.ExecCommand(bg, hostID, []string{sampleDBBin, "--listen", "[::]:6001", "--user", "acct1:admin:accountadmin=secret"})
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

type connInfo struct{ client, endpoint string }

// queryOver connects go-sql-driver from inside hostID to domain:6001,
// resolved by the VPC's resolver to an address of family ("ip4", "ip6"),
// and returns what the database learnt of the connection.
func queryOver(e *testenv.Env, hostID, vpcID, domain, family string) (connInfo, error) {
	hs := e.Driver.Sockets
	res := netdrv.HostResolver(hs, hostID, hs.ResolverAddr(vpcID))
	netName := "agent-test-" + family + "-" + hostID
	mysql.RegisterDialContext(netName, func(ctx context.Context, addr string) (net.Conn, error) {
		h, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := res.LookupNetIP(ctx, family, h)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("resolve %s (%s): %v", h, family, err)
		}
		return hs.DialHost(ctx, hostID, netip.AddrPortFrom(ips[0], 6001))
	})
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "acct1:admin:accountadmin", "secret", netName, net.JoinHostPort(domain, "6001"), "demo"
	cfg.Timeout = 2 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return connInfo{}, err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(bg, 3*time.Second)
	defer cancel()
	var info connInfo
	err = db.QueryRowContext(ctx, "SELECT client_addr, endpoint_id FROM privlink.connection_info").Scan(&info.client, &info.endpoint)
	if ap, perr := netip.ParseAddrPort(info.client); perr == nil {
		info.client = ap.Addr().String()
	}
	return info, err
}

// greeting connects from a host and waits for the MySQL server's first
// bytes (the server speaks first): an error when the connection is reset
// or closed without them (a security group drop).
func greeting(e *testenv.Env, hostID, target string) error {
	ctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	c, err := e.Driver.Sockets.DialHost(ctx, hostID, netip.MustParseAddrPort(target))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	b := make([]byte, 4)
	_, err = c.Read(b)
	return err
}

// serveEcho6 echoes UDP on port 7 of a host, IPv4 and IPv6 (two sockets:
// Go makes a wildcard udp6 socket IPv6-only), tagging each reply "proxy
// <source> <endpoint ID>" when the datagram starts with a PROXY v2 header
// (read by go-proxyproto), "plain" otherwise.
func serveEcho6(t *testing.T, e *testenv.Env, hostID string) {
	t.Helper()
	for _, addr := range []string{"0.0.0.0:7", "[::]:7"} {
		pc, err := e.Driver.Sockets.ListenPacketHost(hostID, mustAP(addr))
		must(t, err)
		done := make(chan struct{})
		t.Cleanup(func() { pc.Close(); <-done })
		go func() {
			defer close(done)
			buf := make([]byte, 65535)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				p, tag := buf[:n], "plain"
				if hdr, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(p))); err == nil {
					tlvs, _ := hdr.TLVs()
					_, epID, _ := sampledb.ParseAlibabaTLVs(tlvs)
					raw, _ := hdr.Format()
					tag, p = fmt.Sprintf("proxy %s %s", hdr.SourceAddr.(*net.UDPAddr).IP, epID), p[len(raw):]
				}
				_, _ = pc.WriteTo(append([]byte(tag+"|"), p...), from)
			}
		}()
	}
}

// TestMain removes the sample database binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if sampleDBBin != "" {
		os.RemoveAll(filepath.Dir(sampleDBBin))
	}
	os.Exit(code)
}
