package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The baselines run inside the consumer VPC namespace, where privlink's
// agent has its listeners, and reach the server host over the direct veth
// route. Each gets one thread or worker per core.

const nginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// checkTools verifies that the external programs are installed.
func checkTools() error {
	for _, t := range []string{"ip", "sysctl", "haproxy", "nginx", "go"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install iproute2 procps haproxy nginx libnginx-mod-stream; Go in PATH)", t)
		}
	}
	if _, err := os.Stat(nginxStreamModule); err != nil {
		return fmt.Errorf("nginx stream module missing (apt-get install libnginx-mod-stream): %w", err)
	}
	return nil
}

// toolVersions returns the first line of `haproxy -v` and `nginx -v`.
func toolVersions() []string {
	var out []string
	for _, c := range [][]string{{"haproxy", "-v"}, {"nginx", "-v"}} {
		b, _ := exec.Command(c[0], c[1:]...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		out = append(out, line)
	}
	return out
}

var benchPorts = []int{portEcho, portSink, portSource}

// haproxyConfig: maxconn as high as the descriptor limit allows (HAProxy
// needs two per connection and refuses to start otherwise).
func haproxyConfig(listen, server string, threads int, nofile uint64) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "global\n    nbthread %d\n    maxconn %d\n\n", threads, min(100000, (nofile-200)/2))
	b.WriteString("defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 10m\n    timeout server 10m\n\n")
	for _, p := range benchPorts {
		fmt.Fprintf(&b, "listen bench%d\n    bind %s:%d\n    server s1 %s:%d\n\n", p, listen, p, server, p)
	}
	return b.String()
}

// nginxConfig: worker_connections (client and upstream sockets count) as
// high as the descriptor limit allows.
func nginxConfig(listen, server, dir string, workers int, nofile uint64) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "load_module %s;\nworker_processes %d;\nworker_rlimit_nofile %d;\n", nginxStreamModule, workers, nofile)
	fmt.Fprintf(&b, "pid %s;\nerror_log %s warn;\n", filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "nginx-error.log"))
	fmt.Fprintf(&b, "events {\n    worker_connections %d;\n}\n\nstream {\n", min(100000, nofile-100))
	for _, p := range benchPorts {
		fmt.Fprintf(&b, "    server {\n        listen %s:%d;\n        proxy_pass %s:%d;\n    }\n", listen, p, server, p)
	}
	// UDP (the udp rows): sessions per client address, kept on one worker.
	fmt.Fprintf(&b, "    server {\n        listen %s:%d udp reuseport;\n        proxy_pass %s:%d;\n        proxy_timeout 30s;\n    }\n", listen, portEcho, server, portEcho)
	b.WriteString("}\n")
	return b.String()
}

// baseline is a running HAProxy or nginx.
type baseline struct {
	name string
	p    *proc
	pids func() []int
}

// startHAProxy writes the config, checks it and starts `haproxy -db` in ns.
func startHAProxy(ctx context.Context, dir, ns, server string, nofile uint64) (*baseline, error) {
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(haproxyAddr, server, nproc(), nofile)), 0o644); err != nil {
		return nil, fmt.Errorf("haproxy config: %w", err)
	}
	if err := run(ctx, "ip", "netns", "exec", ns, "haproxy", "-c", "-q", "-f", cfg); err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "haproxy", "-db", "-f", cfg)
	logf, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProc("haproxy", cmd)
	if err != nil {
		return nil, err
	}
	return &baseline{name: pathHAProxy, p: p, pids: func() []int { return []int{p.pid()} }}, nil
}

// startNginx writes the config and starts nginx in the foreground in ns;
// its CPU and memory are the master's plus the workers'.
func startNginx(ctx context.Context, dir, ns, server string, nofile uint64) (*baseline, error) {
	cfg := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(nginxConfig(nginxAddr, server, dir, nproc(), nofile)), 0o644); err != nil {
		return nil, fmt.Errorf("nginx config: %w", err)
	}
	errLog := filepath.Join(dir, "nginx-error.log")
	if err := run(ctx, "ip", "netns", "exec", ns, "nginx", "-t", "-q", "-c", cfg, "-p", dir, "-e", errLog); err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "nginx", "-c", cfg, "-p", dir, "-e", errLog, "-g", "daemon off;")
	logf, err := os.Create(filepath.Join(dir, "nginx.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProc("nginx", cmd)
	if err != nil {
		return nil, err
	}
	b := &baseline{name: pathNginx, p: p}
	b.pids = func() []int { return append([]int{p.pid()}, childrenOf(p.pid())...) }
	// Wait for the workers, so that CPU and memory readings include them.
	for i := 0; i < 200 && len(childrenOf(p.pid())) < nproc(); i++ {
		if p.exited() {
			return nil, fmt.Errorf("nginx exited: %v (see %s)", p.err, errLog)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return b, nil
}

// stop ends the baseline (both exit on SIGTERM; nginx stops its workers).
func (b *baseline) stop() error {
	if b == nil {
		return nil
	}
	workers := []int{}
	if b.name == pathNginx || b.name == pathNginxTuned {
		workers = childrenOf(b.p.pid())
	}
	err := b.p.stop(syscall.SIGTERM, 15*time.Second)
	for _, w := range workers { // the master waits for them; make sure
		if _, serr := os.Stat(fmt.Sprintf("/proc/%d", w)); serr == nil {
			time.Sleep(100 * time.Millisecond)
			if _, serr := os.Stat(fmt.Sprintf("/proc/%d", w)); serr == nil {
				err = fmt.Errorf("nginx worker %d still running after the master stopped", w)
			}
		}
	}
	return err
}
