package agent_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/sampledb"
	"github.com/privlink/privlink/internal/scenario"
	"github.com/privlink/privlink/internal/testenv"
)

// TestProxyHeaderIPv6Receivers: a consumer connecting to the endpoint's
// IPv6 ENI gets a PROXY v2 header with IPv6 source and destination
// (TCP6, the TLVs unchanged), and the provider's servers, listening on
// their IPv6 addresses as the service's backends, accept it and see the
// consumer host's IPv6 address: go-proxyproto (exact TLVs), nginx stream
// ($proxy_protocol_addr) and HAProxy (accept-proxy, src). The header with
// the default TLVs is 107 bytes over IPv6 (16 + 36 + 55), what nginx
// before 1.23 still reads; all three TLVs (137 bytes) it refuses.
func TestProxyHeaderIPv6Receivers(t *testing.T) {
	for _, tool := range []string{"nginx", "haproxy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/install-deps.sh installs it): %v", tool, err)
		}
	}
	e := testenv.Start(t, testenv.Options{})
	s := buildDualStack(t, e, scenario.Options{AutoAccept: true, ProxyProtocol: true, IPv6Backends: true})
	ep := s.WaitEndpoint(t, testenv.Active)
	target := netip.AddrPortFrom(ep.Zones[0].Ipv6Address, 6001).String()
	consumer := s.ConsumerHost.Ipv6Address.String()
	oldNginx := nginxBefore123(t)

	for _, tc := range []struct {
		name  string
		tlvs  *[]string
		want  [3]bool
		bytes int // header size with IPv6 addresses
	}{
		{"default", &model.DefaultProxyTLVs, [3]bool{true, true, false}, 107},
		{"all three", &[]string{model.TLVServiceID, model.TLVVpcID, model.TLVEndpointID}, [3]bool{true, true, true}, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Provider.UpdateService(bg, s.Service.ServiceID, api.UpdateServiceRequest{ProxyProtocolTLVs: tc.tlvs})
			must(t, err)
			want := fmt.Sprintf("%s %v %d", consumer, tc.want, tc.bytes)
			stop := serveProxyproto6(t, e, s.ProviderHosts)
			testenv.Eventually(t, "go-proxyproto sees the IPv6 header", func() error {
				return expectLine(t, e, s.ConsumerHost.HostID, target, "", want)
			})
			stop()

			stop = runReceivers6(t, e, s.ProviderHosts, "nginx")
			nginxRefuses := oldNginx && tc.bytes > 107
			testenv.Eventually(t, "nginx answers", func() error {
				err := expectLine(t, e, s.ConsumerHost.HostID, target, "", consumer)
				if nginxRefuses {
					if err == nil {
						return errors.New("nginx 1.22 accepted a header over 107 bytes")
					}
					if strings.Contains(err.Error(), "closed without an answer") {
						return nil
					}
				}
				return err
			})
			stop()

			stop = runReceivers6(t, e, s.ProviderHosts, "haproxy")
			testenv.Eventually(t, "HAProxy answers", func() error {
				return expectLine(t, e, s.ConsumerHost.HostID, target, "GET / HTTP/1.0\r\n\r\n", consumer)
			})
			stop()
		})
	}
}

// serveProxyproto6 answers each connection on [::]:6001 of the hosts with
// "<source IP> [vpc endpoint service] <header bytes>", after checking the
// header is TCP over IPv6 with the host's own address as destination's
// family.
func serveProxyproto6(t *testing.T, e *testenv.Env, hosts []model.Host) (stop func()) {
	var lns []net.Listener
	for _, h := range hosts {
		ln, err := e.Driver.Sockets.ListenHost(h.HostID, mustAP("[::]:6001"))
		must(t, err)
		lns = append(lns, ln)
		pl := &proxyproto.Listener{Listener: ln}
		go func() {
			for {
				c, err := pl.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					hdr := c.(*proxyproto.Conn).ProxyHeader()
					if hdr == nil {
						return // a health check
					}
					if hdr.TransportProtocol != proxyproto.TCPv6 {
						fmt.Fprintf(c, "transport %v, want TCPv6\n", hdr.TransportProtocol)
						return
					}
					raw, _ := hdr.Format()
					tlvs, _ := hdr.TLVs()
					vpc, ep, svc := sampledb.ParseAlibabaTLVs(tlvs)
					src := hdr.SourceAddr.(*net.TCPAddr).IP.String()
					fmt.Fprintf(c, "%s %v %d\n", src, [3]bool{vpc != "", ep != "", svc != ""}, len(raw))
				}()
			}
		}()
	}
	stop = func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Cleanup(stop)
	return stop
}

// runReceivers6 runs nginx or HAProxy on [::]:6001 (IPv6 only) in each
// host, accepting the PROXY header and answering with the source address
// it carried.
func runReceivers6(t *testing.T, e *testenv.Env, hosts []model.Host, kind string) (stop func()) {
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
		cmds = nil
	}
	t.Cleanup(stop)
	for _, h := range hosts {
		dir := t.TempDir()
		cfg := filepath.Join(dir, kind+".conf")
		var argv []string
		switch kind {
		case "nginx":
			must(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off; master_process off; worker_processes 1;
pid %[1]s/nginx.pid; error_log %[1]s/error.log info;
events {}
stream { server { listen [::]:6001 ipv6only=on proxy_protocol; return "$proxy_protocol_addr\n"; } }
`, dir)), 0o644))
			argv = []string{"nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", cfg}
		case "haproxy":
			must(t, os.WriteFile(cfg, []byte(`defaults
  mode http
  timeout connect 5s
  timeout client 5s
  timeout server 5s
frontend fe
  bind [::]:6001 v6only accept-proxy
  http-request return status 200 content-type text/plain lf-string "%[src]\n"
`), 0o644))
			argv = []string{"haproxy", "-db", "-f", cfg}
		}
		cmd := e.Driver.Sockets.ExecCommand(bg, h.HostID, argv)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		must(t, cmd.Start())
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				t.Logf("%s in %s: %s%s", kind, h.HostID, out.String(), log)
			}
		})
	}
	return stop
}
