package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The tuned baselines: the strongest configurations of HAProxy and nginx
// a user would deploy, next to their default-style configurations.
//
//   - haproxy tuned runs in the host namespace and uses HAProxy's
//     `namespace` keyword to take privlink's exact path: it binds in the
//     consumer VPC namespace and opens its server connections inside the
//     provider VPC namespace (no veth between the VPCs is crossed, as with
//     privlink), with `option splice-auto`.
//   - nginx tuned has no per-server namespace: it runs in the consumer VPC
//     namespace like the default nginx and reaches the server host over the
//     bench's routed veth (one more veth and router hop than privlink),
//     with `reuseport`, `tcp_nodelay`, `multi_accept` and 64 KiB proxy
//     buffers.
const (
	haproxyTunedAddr = "10.1.250.3" // on the direct veth's consumer end, like the default baselines
	nginxTunedAddr   = "10.1.250.4"

	// tunedBuffer is nginx's proxy_buffer_size (default 16k): fewer
	// read/write calls per byte on bulk transfers, at 2 × 64 KiB per
	// connection while data flows.
	tunedBuffer = "64k"
)

// haproxyPipes returns maxconn and maxpipes for the tuned HAProxy within
// nofile descriptors: each connection holds two sockets, each pipe two
// descriptors. HAProxy reserves maxconn/4 pipes unless told otherwise and
// then refuses to start under the descriptor limit; a fixed pool of 256
// covers every flow the timed loads splice at once (at most 32 connections,
// two directions each), flows beyond it fall back to buffer copies, and
// maxconn stays above the idle workload's connections ((nofile-1024)/2,
// see newHarness).
func haproxyPipes(nofile uint64) (maxconn, maxpipes uint64) {
	maxpipes = min(256, max(16, (nofile-200)/40))
	return min(100000, (nofile-200-2*maxpipes)/2), maxpipes
}

// haproxyTunedConfig: splice-auto, TCP Fast Open to the servers (tfo, as
// privlink does; see backendFastOpen), bind in the consumer VPC namespace cns,
// servers dialled from the provider VPC namespace pns.
func haproxyTunedConfig(listen, server, cns, pns string, threads int, nofile uint64) string {
	maxconn, maxpipes := haproxyPipes(nofile)
	var b bytes.Buffer
	fmt.Fprintf(&b, "global\n    nbthread %d\n    maxconn %d\n    maxpipes %d\n\n", threads, maxconn, maxpipes)
	b.WriteString("defaults\n    mode tcp\n    option splice-auto\n    timeout connect 5s\n    timeout client 10m\n    timeout server 10m\n\n")
	for _, p := range benchPorts {
		fmt.Fprintf(&b, "listen bench%d\n    bind %s:%d namespace %s\n    server s1 %s:%d namespace %s tfo\n\n", p, listen, p, cns, server, p, pns)
	}
	return b.String()
}

// nginxTunedConfig: reuseport listeners (one accept queue per worker),
// tcp_nodelay, multi_accept and larger proxy buffers.
func nginxTunedConfig(listen, server, dir string, workers int, nofile uint64) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "load_module %s;\nworker_processes %d;\nworker_rlimit_nofile %d;\n", nginxStreamModule, workers, nofile)
	fmt.Fprintf(&b, "pid %s;\nerror_log %s warn;\n", filepath.Join(dir, "nginx-tuned.pid"), filepath.Join(dir, "nginx-tuned-error.log"))
	fmt.Fprintf(&b, "events {\n    worker_connections %d;\n    multi_accept on;\n    use epoll;\n}\n\n", min(100000, nofile-100))
	fmt.Fprintf(&b, "stream {\n    tcp_nodelay on;\n    proxy_buffer_size %s;\n", tunedBuffer)
	for _, p := range benchPorts {
		fmt.Fprintf(&b, "    server {\n        listen %s:%d reuseport backlog=4096;\n        proxy_pass %s:%d;\n    }\n", listen, p, server, p)
	}
	b.WriteString("}\n")
	return b.String()
}

// addTunedAddrs puts the tuned baselines' listen addresses on the direct
// veth's consumer end; they go away with the veth (addDirect's undo).
func (t *topology) addTunedAddrs(ctx context.Context) error {
	cns := t.ns(t.ConsumerNet.VPC.VpcID)
	for _, a := range []string{haproxyTunedAddr, nginxTunedAddr} {
		if err := run(ctx, "ip", "-n", cns, "addr", "add", a+"/32", "dev", t.vethC); err != nil {
			return err
		}
	}
	return nil
}

// startHAProxyTuned starts `haproxy -db` in the harness's own namespace:
// its `namespace` keywords put its sockets in the two VPC namespaces.
func startHAProxyTuned(ctx context.Context, dir, cns, pns, server string, nofile uint64) (*baseline, error) {
	cfg := filepath.Join(dir, "haproxy-tuned.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyTunedConfig(haproxyTunedAddr, server, cns, pns, nproc(), nofile)), 0o644); err != nil {
		return nil, fmt.Errorf("haproxy tuned config: %w", err)
	}
	if err := run(ctx, "haproxy", "-c", "-q", "-f", cfg); err != nil {
		return nil, err
	}
	cmd := exec.Command("haproxy", "-db", "-f", cfg)
	logf, err := os.Create(filepath.Join(dir, "haproxy-tuned.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProc("haproxy-tuned", cmd)
	if err != nil {
		return nil, err
	}
	return &baseline{name: pathHAProxyTuned, p: p, pids: func() []int { return []int{p.pid()} }}, nil
}

// startNginxTuned starts the tuned nginx in the consumer VPC namespace.
func startNginxTuned(ctx context.Context, dir, cns, server string, nofile uint64) (*baseline, error) {
	cfg := filepath.Join(dir, "nginx-tuned.conf")
	if err := os.WriteFile(cfg, []byte(nginxTunedConfig(nginxTunedAddr, server, dir, nproc(), nofile)), 0o644); err != nil {
		return nil, fmt.Errorf("nginx tuned config: %w", err)
	}
	errLog := filepath.Join(dir, "nginx-tuned-error.log")
	if err := run(ctx, "ip", "netns", "exec", cns, "nginx", "-t", "-q", "-c", cfg, "-p", dir, "-e", errLog); err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", cns, "nginx", "-c", cfg, "-p", dir, "-e", errLog, "-g", "daemon off;")
	logf, err := os.Create(filepath.Join(dir, "nginx-tuned.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProc("nginx-tuned", cmd)
	if err != nil {
		return nil, err
	}
	b := &baseline{name: pathNginxTuned, p: p}
	b.pids = func() []int { return append([]int{p.pid()}, childrenOf(p.pid())...) }
	for i := 0; i < 200 && len(childrenOf(p.pid())) < nproc(); i++ {
		if p.exited() {
			return nil, fmt.Errorf("nginx tuned exited: %v (see %s)", p.err, errLog)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return b, nil
}

// startTuned starts both tuned baselines and registers their ends.
func (h *harness) startTuned(ctx context.Context) (hap, ngx *baseline, err error) {
	t := h.t
	if err := t.addTunedAddrs(ctx); err != nil {
		return nil, nil, err
	}
	cns, pns := h.ns(t.ConsumerNet.VPC.VpcID), h.ns(t.ProviderNet.VPC.VpcID)
	hap, err = startHAProxyTuned(ctx, h.tmp, cns, pns, t.server.IP.String(), h.nofile)
	if err != nil {
		return nil, nil, err
	}
	track(hap.p)
	h.onUndo("haproxy tuned", hap.stop)
	ngx, err = startNginxTuned(ctx, h.tmp, cns, t.server.IP.String(), h.nofile)
	if ngx != nil {
		track(ngx.p)
		h.onUndo("nginx tuned", ngx.stop)
	}
	return hap, ngx, err
}

// backendFastOpen lets the server host's servers accept TCP Fast Open
// (net.ipv4.tcp_fastopen=3 in its namespace; the servers set TCP_FASTOPEN
// on their listeners, see fastOpenListen): a backend that allows it, so
// that privlink and the tuned HAProxy can put their first bytes in the
// SYN. The load generator does not use Fast Open, so the direct path and
// the baselines that do not (nginx) are unaffected.
func (t *topology) backendFastOpen(ctx context.Context) error {
	return run(ctx, "ip", "netns", "exec", t.ns(t.server.HostID), "sysctl", "-q", "-w", "net.ipv4.tcp_fastopen=3")
}

// fastOpenListen listens on addr (IPv4) with TCP_FASTOPEN (a queue of 256
// pending Fast Open requests).
func fastOpenListen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN, 256)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp4", addr)
}

// noteFastOpen adds a note with the server host's Fast Open counters
// (TcpExt of /proc/net/netstat in its namespace): how many connections
// arrived with data in the SYN, over the whole run and all paths.
func (h *harness) noteFastOpen(ctx context.Context) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", h.ns(h.t.server.HostID), "cat", "/proc/net/netstat").Output()
	if err != nil {
		h.rep.addError("read the server host's TcpExt counters", err)
		return
	}
	c := tcpExt(string(out))
	h.rep.note("TCP Fast Open at the servers over the run (all paths): %d connections with data in the SYN accepted (TCPFastOpenPassive), %d cookie requests answered (TCPFastOpenCookieReqd)",
		c["TCPFastOpenPassive"], c["TCPFastOpenCookieReqd"])
}

// tcpExt parses the TcpExt lines of /proc/net/netstat.
func tcpExt(netstat string) map[string]int64 {
	lines := strings.Split(netstat, "\n")
	out := map[string]int64{}
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "TcpExt:") || !strings.HasPrefix(lines[i+1], "TcpExt:") {
			continue
		}
		names, vals := strings.Fields(lines[i])[1:], strings.Fields(lines[i+1])[1:]
		for j := range min(len(names), len(vals)) {
			v, _ := strconv.ParseInt(vals[j], 10, 64)
			out[names[j]] = v
		}
		break
	}
	return out
}
