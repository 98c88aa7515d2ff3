package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/lab"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
)

// The rows across nodes (issue 12 item 8, opt-in: --only nodes). A lab of
// three simulated machines (internal/lab: node namespaces on an underlay
// bridge, the real privlink processes in them):
//
//	n1 (zone i): privlink server (etcd, API, its node agent); the client host
//	n2 (zone h): privlink agent; the endpoint's ENI
//	n3 (zone h): privlink agent; the backend host, and the direct host
//
// A service is offered in its backends' zones, so the backend and the ENI
// share zone h; the placement controller puts an ENI on the zone's node
// with the fewest ENIs (ties by name), so the endpoints are created in the
// order data (n2), spacer (n3), HAProxy's (n2), and the harness checks
// where they landed.
//
// Three paths from the client host on n1, measured in the same run:
//
//   - direct: to a second host of the consumer VPC on n3 (same vSwitch as
//     the client): the kernel's routed VXLAN overlay n1 → n3, no proxy;
//   - privlink: to the ENI on n2; n2's agent proxies from its copy of the
//     provider VPC over the overlay to the backend host on n3;
//   - haproxy-default: HAProxy run in n2's node namespace, bound (keyword
//     `namespace`) in n2's copy of the consumer VPC and dialing from n2's
//     copy of the provider VPC to the same backend host. It binds the ENI
//     of a second endpoint of the consumer VPC (a service on an unused
//     port, so privlink listens there on that port only): an address the
//     overlay already routes to n2, so both proxies sit on the same hops.

const (
	workloadNodes = "nodes"
	nodesZoneH    = "cn-hangzhou-h" // the ENI's and the backend's zone: nodes n2, n3
	nodesZoneI    = "cn-hangzhou-i" // the client's zone: node n1
	portUnused    = 7009            // the HAProxy placeholder service's port
)

// nodePaths are the columns of the table across nodes.
var nodePaths = []string{pathDirect, pathPrivlink, pathHAProxy}

// nodeWorkloads are the timed loads across nodes: bulk throughput, short
// connections and 64 B ping-pong.
var nodeWorkloads = []struct {
	row, mode, dir string
	conc           int
}{
	{"xn-bulk-1-up", "bulk", "up", 1},
	{"xn-bulk-1-down", "bulk", "down", 1},
	{"xn-bulk-8-up", "bulk", "up", 8},
	{"xn-short-c1", "short", "", 1},
	{"xn-short-c32", "short", "", 32},
	{"xn-pp-c1", "pingpong", "", 1},
	{"xn-pp-c32", "pingpong", "", 32},
}

// nodeRows are the rows of the table across nodes (none unless asked for).
func nodeRows(cfg Config) []rowDef {
	if !cfg.optIn(workloadNodes) {
		return nil
	}
	pxs := []string{pathPrivlink, pathHAProxy}
	r := func(id, title, unit string, higher bool, paths []string) rowDef {
		return rowDef{id, title, unit, higher, paths, workloadNodes}
	}
	return []rowDef{
		r("xn-bulk-1-up", "across nodes: bulk 1 stream, client→server", "Gbit/s", true, nodePaths),
		r("xn-bulk-1-down", "across nodes: bulk 1 stream, server→client", "Gbit/s", true, nodePaths),
		r("xn-bulk-8-up", "across nodes: bulk 8 streams, client→server", "Gbit/s", true, nodePaths),
		r("xn-cpu-bulk", "across nodes: proxy CPU per GB, bulk rows", "CPU ms/GB", false, pxs),
		r("xn-short-c1", "across nodes: short conns c=1 (connect, 64 B req, 64 B reply, close)", "conn/s", true, nodePaths),
		r("xn-short-c1-p99", "across nodes: short conns c=1, p99", "µs", false, nodePaths),
		r("xn-short-c32", "across nodes: short conns c=32", "conn/s", true, nodePaths),
		r("xn-short-c32-p99", "across nodes: short conns c=32, p99", "µs", false, nodePaths),
		r("xn-cpu-short", "across nodes: proxy CPU per short conn (c=32)", "CPU µs/conn", false, pxs),
		r("xn-pp-c1", "across nodes: 64 B ping-pong, 1 conn", "rt/s", true, nodePaths),
		r("xn-pp-c1-p50", "across nodes: 64 B ping-pong, 1 conn, p50", "µs", false, nodePaths),
		r("xn-pp-c1-p99", "across nodes: 64 B ping-pong, 1 conn, p99", "µs", false, nodePaths),
		r("xn-pp-c32", "across nodes: 64 B ping-pong, 32 conns", "rt/s", true, nodePaths),
		r("xn-pp-c32-p99", "across nodes: 64 B ping-pong, 32 conns, p99", "µs", false, nodePaths),
		r("xn-cpu-pp", "across nodes: proxy CPU per round trip (32 conns)", "CPU µs/rt", false, pxs),
	}
}

// nodesOnly reports whether the selection is the rows across nodes alone
// (then the single-node topology is not built).
func (c *Config) nodesOnly() bool {
	if !c.optIn(workloadNodes) {
		return false
	}
	for _, w := range workloadNames() {
		if c.selected(w) {
			return false
		}
	}
	return true
}

// xnode is the lab topology of the rows across nodes.
type xnode struct {
	lab      *lab.Lab
	region   *lab.Region
	clientNS string // the client host's namespace (on n1)
	targets  map[string]string
	pids     map[string]func() []int
}

// runNodes builds the three-node lab, measures every path, run after run,
// and leaves the teardown to the harness's undo steps.
func (h *harness) runNodes(ctx context.Context) {
	x, err := h.setupNodes(ctx)
	if err != nil {
		h.rep.addError("nodes: setup", err)
		return
	}
	h.rep.note("across nodes: %s", nodesTopologyNote)
	for run := 1; run <= h.cfg.Runs; run++ {
		cpu, gb := map[string]float64{}, map[string]float64{}
		for _, w := range nodeWorkloads {
			for _, p := range nodePaths {
				if ctx.Err() != nil {
					return
				}
				res, pcpu, err := x.measure(ctx, h, p, w.mode, w.dir, w.conc)
				what := fmt.Sprintf("nodes %s via %s (run %d)", w.row, p, run)
				if err != nil {
					h.rep.addError(what, err)
					continue
				}
				if res.Errors > 0 {
					h.rep.addError(what, fmt.Errorf("%d failed operations, first: %s", res.Errors, res.FirstErr))
				}
				proxy := p != pathDirect
				switch w.mode {
				case "bulk":
					h.rep.add(w.row, p, float64(res.Bytes)*8/res.Seconds/1e9)
					if proxy {
						cpu[p] += pcpu
						gb[p] += float64(res.Bytes) / 1e9
					}
				case "short":
					h.rep.add(w.row, p, rate(res))
					h.rep.add(w.row+"-p99", p, res.P99us)
					if proxy && w.conc > 1 && res.Ops > 0 {
						h.rep.add("xn-cpu-short", p, pcpu/float64(res.Ops)*1e6)
					}
				case "pingpong":
					h.rep.add(w.row, p, rate(res))
					h.rep.add(w.row+"-p99", p, res.P99us)
					if w.conc == 1 {
						h.rep.add(w.row+"-p50", p, res.P50us)
					} else if proxy && res.Ops > 0 {
						h.rep.add("xn-cpu-pp", p, pcpu/float64(res.Ops)*1e6)
					}
				}
				slog.Info("measured across nodes", "workload", w.row, "path", p, "run", run,
					"ops", res.Ops, "bytes", res.Bytes, "p99us", res.P99us, "proxyCPU", fmt.Sprintf("%.2f", pcpu))
			}
		}
		for p, g := range gb {
			if g > 0 {
				h.rep.add("xn-cpu-bulk", p, cpu[p]/g*1e3)
			}
		}
	}
}

const nodesTopologyNote = "three simulated machines (internal/lab node namespaces on one underlay bridge, MTU 1550, VPC MTU 1500), " +
	"each running the real privlink process (n1: privlink server with etcd, API and its node agent; n2, n3: privlink agent). " +
	"Client host on n1; privlink = the ENI on n2 (its agent proxies) → backend host on n3; haproxy-default = HAProxy in n2's node namespace, " +
	"bound in n2's copy of the consumer VPC (keyword namespace) and dialing from n2's copy of the provider VPC to the same backend; " +
	"direct = a second host of the consumer VPC on n3, reached over the same VXLAN overlay (n1 → n3, routed, no proxy). " +
	"Proxy CPU: the n2 agent process (privlink), the HAProxy process. All nodes share this machine's CPUs."

// measure runs one load child in the client host against path p and reads
// the proxy's CPU seconds meanwhile.
func (x *xnode) measure(ctx context.Context, h *harness, p, mode, dir string, conc int) (loadResult, float64, error) {
	var pids []int
	if f := x.pids[p]; f != nil {
		pids = f()
	}
	c0, err := cpuSeconds(pids)
	if err != nil {
		return loadResult{}, 0, err
	}
	args := []string{"--mode", mode, "--conc", strconv.Itoa(conc), "--target", x.targets[p], "--dur", h.cfg.Duration.String()}
	if dir != "" {
		args = append(args, "--dir", dir)
	}
	out, err := runChild(ctx, h.self, x.clientNS, "load", h.cfg.Duration+2*time.Minute, args...)
	if err != nil {
		return loadResult{}, 0, err
	}
	c1, err := cpuSeconds(pids)
	if err != nil {
		return loadResult{}, 0, err
	}
	var res loadResult
	if err := json.Unmarshal(out, &res); err != nil {
		return res, 0, fmt.Errorf("load result %q: %w", strings.TrimSpace(string(out)), err)
	}
	return res, c1 - c0, nil
}

// setupNodes builds the lab, the region, the topology, the servers and
// HAProxy, and checks that every path carries traffic. Every step
// registers its undo with the harness first.
func (h *harness) setupNodes(ctx context.Context) (*xnode, error) {
	bin := h.cfg.Privlink
	if bin == "" {
		slog.Info("building privlink")
		var err error
		if bin, err = buildPrivlink(ctx, h.tmp); err != nil {
			return nil, err
		}
	}
	h.rep.header = append(h.rep.header, fmt.Sprintf("across nodes: privlink %s; %s; settings: runs %d, duration %v per timed run",
		privlinkVersion(bin), toolVersions()[0], h.cfg.Runs, h.cfg.Duration))
	if _, err := lab.SweepStale(); err != nil {
		slog.Warn("sweeping stale labs", "err", err)
	}
	l, err := lab.Start(lab.Config{Nodes: 3, Zones: []string{nodesZoneI, nodesZoneH, nodesZoneH}, Logger: slog.Default()})
	if err != nil {
		return nil, err
	}
	h.onUndo("lab "+l.Prefix, func() error {
		err := l.Close()
		if left := lab.Leftovers(l.Prefix); len(left) > 0 {
			err = fmt.Errorf("lab left behind: %v (%v)", left, err)
		}
		return err
	})
	n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	slog.Info("starting the region", "lab", l.Prefix)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r, err := l.StartRegion(rctx, lab.RegionConfig{Bin: bin, Members: 1})
	if err != nil {
		return nil, err
	}
	h.onUndo("the region's processes", func() error { r.Stop(10 * time.Second); return nil })
	admin, err := r.Admin(n1, 0)
	if err != nil {
		return nil, err
	}
	if err := waitNodesReady(rctx, admin, 3); err != nil {
		return nil, err
	}
	x := &xnode{lab: l, region: r}
	t, err := buildNodesTopology(rctx, admin, n1.Name, n3.Name)
	if err != nil {
		return nil, err
	}
	hostNS := func(n *lab.Node, hst model.Host) string { return n.NetnsPrefix + "-" + hst.HostID }
	x.clientNS = hostNS(n1, t.client)
	cons, prov := n2.NetnsPrefix+"-"+t.consVPC, n2.NetnsPrefix+"-"+t.provVPC
	for _, ns := range []string{x.clientNS, hostNS(n3, t.direct), hostNS(n3, t.backend), cons, prov} {
		if err := waitNetns(rctx, ns, 60*time.Second); err != nil {
			return nil, err
		}
		if err := run(rctx, "ip", "netns", "exec", ns, "sysctl", "-q", "-w",
			"net.ipv4.ip_local_port_range=10000 65000", "net.ipv4.tcp_tw_reuse=1"); err != nil {
			return nil, err
		}
	}
	for _, ip := range []string{t.eni, t.hapENI} {
		if err := waitAddr(rctx, cons, ip, 60*time.Second); err != nil {
			return nil, fmt.Errorf("ENI %s on n2: %w", ip, err)
		}
	}
	for _, hst := range []model.Host{t.direct, t.backend} {
		s, err := h.interactive(hostNS(n3, hst), "serve")
		if err != nil {
			return nil, err
		}
		if line, err := s.readLine(20 * time.Second); err != nil || line != "READY" {
			return nil, fmt.Errorf("servers in %s did not start: %q %v", hst.HostID, line, err)
		}
	}
	hap, err := startHAProxyNodes(rctx, h.tmp, n2.Namespace, t.hapENI, cons, t.backend.IP.String(), prov, h.nofile)
	if err != nil {
		return nil, err
	}
	track(hap.p)
	h.onUndo("haproxy across nodes", hap.stop)
	agent := r.Agents[n2.Name]
	x.targets = map[string]string{pathDirect: t.direct.IP.String(), pathPrivlink: t.eni, pathHAProxy: t.hapENI}
	x.pids = map[string]func() []int{pathPrivlink: func() []int { return []int{agent.PID()} }, pathHAProxy: hap.pids}
	probe, err := h.interactive(x.clientNS, "probe")
	if err != nil {
		return nil, err
	}
	for _, p := range nodePaths {
		d, err := probeCall(probe, "echo", x.targets[p], 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("path %s across nodes does not carry traffic: %w", p, err)
		}
		slog.Info("path across nodes carries traffic", "path", p, "target", x.targets[p], "firstRoundTrip", d)
	}
	return x, nil
}

// nodesTopology is what buildNodesTopology created.
type nodesTopology struct {
	consVPC, provVPC        string
	client, direct, backend model.Host
	eni, hapENI             string
}

// buildNodesTopology creates the accounts, the provider VPC with the
// backend host on backendNode (zone h), the consumer VPC with the client
// host on clientNode (vSwitch of zone i) and the direct host on
// backendNode (vSwitch of zone h), the data-plane service and its endpoint
// in zone h, a spacer endpoint, and the placeholder service and endpoint
// whose ENI HAProxy binds.
func buildNodesTopology(ctx context.Context, admin *client.Client, clientNode, backendNode string) (*nodesTopology, error) {
	b, err := scenario.NewBuilder(ctx, admin, "xbench-provider", "xbench-consumer")
	if err != nil {
		return nil, err
	}
	pn, err := b.Network(ctx, scenario.ProviderSide, scenario.NetworkSpec{Name: "xbench-provider", CIDR: providerCIDR,
		VSwitches: []scenario.VSwitchSpec{{ZoneID: nodesZoneH, Subnet: 1}}})
	if err != nil {
		return nil, err
	}
	cn, err := b.Network(ctx, scenario.ConsumerSide, scenario.NetworkSpec{Name: "xbench-consumer", CIDR: consumerCIDR,
		VSwitches:     []scenario.VSwitchSpec{{ZoneID: nodesZoneI, Subnet: 1}, {ZoneID: nodesZoneH, Subnet: 2}},
		SecurityGroup: securityGroup(1, 65535)})
	if err != nil {
		return nil, err
	}
	host := func(c *client.Client, vsw, name, node string) (model.Host, error) {
		hst, err := c.CreateHost(ctx, api.CreateHostRequest{VSwitchID: vsw, Name: name, NodeName: node})
		if err != nil {
			return hst, fmt.Errorf("create host %s on %s: %w", name, node, err)
		}
		if hst.NodeName != node {
			return hst, fmt.Errorf("host %s placed on %q, not %s", name, hst.NodeName, node)
		}
		return hst, nil
	}
	t := &nodesTopology{consVPC: cn.VPC.VpcID, provVPC: pn.VPC.VpcID}
	if t.backend, err = host(b.Provider, pn.VSwitches[0].VSwitchID, "backend", backendNode); err != nil {
		return nil, err
	}
	if t.client, err = host(b.Consumer, cn.VSwitches[0].VSwitchID, "client", clientNode); err != nil {
		return nil, err
	}
	if t.direct, err = host(b.Consumer, cn.VSwitches[1].VSwitchID, "direct", backendNode); err != nil {
		return nil, err
	}
	pn.Hosts = []model.Host{t.backend}
	connect := func(spec scenario.ServiceSpec) (string, error) {
		svc, err := b.Publish(ctx, pn, spec)
		if err != nil {
			return "", err
		}
		ep, err := b.Connect(ctx, cn, svc, scenario.EndpointSpec{VSwitches: []int{1}}) // zone h
		if err != nil {
			return "", err
		}
		if ep, err = waitActive(ctx, b.Consumer, ep.EndpointID, 60*time.Second); err != nil {
			return "", err
		}
		return ep.Zones[0].IP.String(), nil
	}
	if t.eni, err = connect(scenario.ServiceSpec{Description: "xbench data plane", Ports: []int{portEcho, portSink, portSource}, AutoAccept: true}); err != nil {
		return nil, err
	}
	if _, err = connect(scenario.ServiceSpec{Description: "xbench spacer (its ENI goes to the other node of zone h)", Ports: []int{portUnused}, AutoAccept: true}); err != nil {
		return nil, err
	}
	if t.hapENI, err = connect(scenario.ServiceSpec{Description: "xbench haproxy address", Ports: []int{portUnused}, AutoAccept: true}); err != nil {
		return nil, err
	}
	slog.Info("topology across nodes ready", "consumerVpc", t.consVPC, "providerVpc", t.provVPC, "client", t.client.IP,
		"direct", t.direct.IP, "backend", t.backend.IP, "eni", t.eni, "haproxyENI", t.hapENI)
	return t, nil
}

// waitNodesReady waits until want nodes are Ready.
func waitNodesReady(ctx context.Context, admin *client.Client, want int) error {
	for {
		nodes, err := admin.ListNodes(ctx)
		ready := 0
		for _, n := range nodes {
			if n.Status == "Ready" {
				ready++
			}
		}
		if err == nil && ready >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d nodes Ready (last error: %v): %w", ready, want, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitAddr waits until ip is a local address of namespace ns.
func waitAddr(ctx context.Context, ns, ip string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.CommandContext(ctx, "ip", "-n", ns, "-o", "addr", "show").Output()
		if err == nil && strings.Contains(string(out), " "+ip+"/") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not an address of %s after %v", ip, ns, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// haproxyNodesConfig is haproxyConfig's default configuration with the
// listeners bound in one named namespace and the servers dialed from
// another (HAProxy's `namespace` keyword).
func haproxyNodesConfig(listen, listenNS, server, serverNS string, threads int, nofile uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global\n    nbthread %d\n    maxconn %d\n\n", threads, min(100000, (nofile-200)/2))
	b.WriteString("defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 10m\n    timeout server 10m\n\n")
	for _, p := range benchPorts {
		fmt.Fprintf(&b, "listen bench%d\n    bind %s:%d namespace %s\n    server s1 %s:%d namespace %s\n\n", p, listen, p, listenNS, server, p, serverNS)
	}
	return b.String()
}

// startHAProxyNodes starts HAProxy in node namespace nodeNS.
func startHAProxyNodes(ctx context.Context, dir, nodeNS, listen, listenNS, server, serverNS string, nofile uint64) (*baseline, error) {
	cfg := filepath.Join(dir, "haproxy-nodes.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyNodesConfig(listen, listenNS, server, serverNS, nproc(), nofile)), 0o644); err != nil {
		return nil, fmt.Errorf("haproxy config: %w", err)
	}
	if err := run(ctx, "ip", "netns", "exec", nodeNS, "haproxy", "-c", "-q", "-f", cfg); err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", "netns", "exec", nodeNS, "haproxy", "-db", "-f", cfg)
	logf, err := os.Create(filepath.Join(dir, "haproxy-nodes.log"))
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

// writeNodes renders the table across nodes (nothing if its rows were not
// asked for).
func (r *Report) writeNodes(b *bytes.Buffer) {
	defs := nodeRows(r.cfg)
	if len(defs) == 0 {
		return
	}
	b.WriteString("\n## Across nodes\n\nclient host on node n1 → endpoint ENI on node n2 → backend host on node n3 (see the note). ")
	b.WriteString("Each cell: median (min..max) over the runs; ratios are privlink ÷ baseline of the medians.\n\n")
	b.WriteString("| workload | unit | " + strings.Join(nodePaths, " | ") + " | pl/direct | pl/haproxy | vs haproxy |\n")
	b.WriteString("|---|---|" + strings.Repeat("---|", len(nodePaths)+3) + "\n")
	for _, d := range defs {
		med := map[string]float64{}
		cells := make([]string, 0, len(nodePaths))
		for _, p := range nodePaths {
			st, ok := summarize(r.samples[d.id][p])
			switch {
			case ok:
				med[p] = st.med
				cells = append(cells, cell(st, len(r.samples[d.id][p])))
			case slicesContains(d.paths, p):
				cells = append(cells, "**missing**")
			default:
				cells = append(cells, "—")
			}
		}
		ratio := func(base string) string {
			pl, ok1 := med[pathPrivlink]
			v, ok2 := med[base]
			if !ok1 || !ok2 || v == 0 {
				return "—"
			}
			return fmt.Sprintf("%.2f×", pl/v)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", d.title, d.unit, strings.Join(cells, " | "),
			ratio(pathDirect), ratio(pathHAProxy), verdict(d, med, []string{pathHAProxy}))
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// runNodesOnce runs the rows across nodes and removes their lab before
// anything else runs.
func (h *harness) runNodesOnce(ctx context.Context) {
	mark := len(h.undo)
	h.runNodes(ctx)
	var errs []error
	for i := len(h.undo) - 1; i >= mark; i-- {
		s := h.undo[i]
		if err := s.f(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.what, err))
		}
	}
	h.undo = h.undo[:mark]
	if err := errors.Join(errs...); err != nil {
		h.rep.addError("nodes: cleanup", err)
	}
}
