package agent_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/sampledb"
	"github.com/privlink/privlink/internal/testenv"
)

// TestProxyHeaderReceivers: for each TLV choice a service can make, the
// provider's own servers accept the PROXY header as their backend (nginx
// 1.22's stream module, HAProxy 2.6 with accept-proxy, go-proxyproto) and
// see the consumer host's address; go-proxyproto sees exactly the chosen
// TLVs. nginx before 1.23 reads at most 107 bytes of header, so it refuses
// all three TLVs (113 bytes) and accepts the default (83).
func TestProxyHeaderReceivers(t *testing.T) {
	for _, tool := range []string{"nginx", "haproxy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/install-deps.sh installs it): %v", tool, err)
		}
	}
	e := testenv.Start(t, testenv.Options{})
	s := testenv.BuildScenario(t, e, testenv.ScenarioOptions{AutoAccept: true, ProxyProtocol: true})
	ep := s.WaitEndpoint(t, testenv.Active)
	target := ep.Zones[0].IP.String() + ":6001"
	consumer := s.ConsumerHost.IP.String()
	oldNginx := nginxBefore123(t)

	for _, tc := range []struct {
		name  string
		tlvs  *[]string // nil: the default
		want  [3]bool   // vpc, endpoint, service
		bytes int       // header size with IPv4 addresses
	}{
		{"default", nil, [3]bool{true, true, false}, 83},
		{"none", &[]string{}, [3]bool{}, 28},
		{"endpoint only", &[]string{model.TLVEndpointID}, [3]bool{false, true, false}, 55},
		{"all three", &[]string{model.TLVServiceID, model.TLVVpcID, model.TLVEndpointID}, [3]bool{true, true, true}, 113},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tlvs := tc.tlvs
			if tlvs == nil {
				tlvs = &model.DefaultProxyTLVs
			}
			svc, err := s.Provider.UpdateService(bg, s.Service.ServiceID, api.UpdateServiceRequest{ProxyProtocolTLVs: tlvs})
			must(t, err)
			if tc.tlvs == nil && strings.Join(svc.ProxyProtocolTLVs, ",") != "vpcId,endpointId" {
				t.Errorf("service says TLVs %v, want the default", svc.ProxyProtocolTLVs)
			}

			// go-proxyproto: the exact TLVs, which also proves the agent
			// has swapped the listener's config before the others run.
			want := fmt.Sprintf("%s %v", consumer, tc.want)
			stop := serveProxyproto(t, e, s.ProviderHosts)
			testenv.Eventually(t, "go-proxyproto sees the chosen TLVs", func() error {
				return expectLine(t, e, s.ConsumerHost.HostID, target, "", want)
			})
			stop()

			stop = runReceivers(t, e, s.ProviderHosts, "nginx")
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

			stop = runReceivers(t, e, s.ProviderHosts, "haproxy")
			testenv.Eventually(t, "HAProxy answers", func() error {
				return expectLine(t, e, s.ConsumerHost.HostID, target, "GET / HTTP/1.0\r\n\r\n", consumer)
			})
			stop()
		})
	}
}

// expectLine connects from a host, sends req, reads to EOF and wants the
// last line to be want.
func expectLine(t *testing.T, e *testenv.Env, hostID, addr, req, want string) error {
	c, err := dialFrom(t, e, hostID, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if err != nil && len(b) == 0 {
		return fmt.Errorf("closed without an answer: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if got := strings.TrimSpace(lines[len(lines)-1]); got != want {
		if got == "" {
			return errors.New("closed without an answer")
		}
		return fmt.Errorf("answer %q, want %q", got, want)
	}
	return nil
}

// serveProxyproto answers each connection on port 6001 of the hosts with
// "<source IP> [vpc endpoint service]", whether each TLV came.
func serveProxyproto(t *testing.T, e *testenv.Env, hosts []model.Host) (stop func()) {
	var lns []net.Listener
	for _, h := range hosts {
		ln, err := e.Driver.Sockets.ListenHost(h.HostID, mustAP("0.0.0.0:6001"))
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
					tlvs, _ := hdr.TLVs()
					vpc, ep, svc := sampledb.ParseAlibabaTLVs(tlvs)
					src := hdr.SourceAddr.(*net.TCPAddr).IP.String()
					fmt.Fprintf(c, "%s %v\n", src, [3]bool{vpc != "", ep != "", svc != ""})
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

// runReceivers runs nginx or HAProxy on port 6001 in each host, accepting
// the PROXY header and answering with the source address it carried.
func runReceivers(t *testing.T, e *testenv.Env, hosts []model.Host, kind string) (stop func()) {
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
stream { server { listen 6001 proxy_protocol; return "$proxy_protocol_addr\n"; } }
`, dir)), 0o644))
			argv = []string{"nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", cfg}
		case "haproxy":
			must(t, os.WriteFile(cfg, []byte(`defaults
  mode http
  timeout connect 5s
  timeout client 5s
  timeout server 5s
frontend fe
  bind :6001 accept-proxy
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

// nginxBefore123 reports whether the installed nginx reads at most 107
// bytes of PROXY header (before 1.23.0).
func nginxBefore123(t *testing.T) bool {
	out, err := exec.Command("nginx", "-v").CombinedOutput()
	must(t, err)
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "nginx version: nginx/%d.%d", &major, &minor); err != nil {
		t.Fatalf("nginx -v: %q: %v", out, err)
	}
	return major == 1 && minor < 23
}
