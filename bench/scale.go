package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
)

// Scale (opt-in, --only scale): many endpoints of one service on one
// node, in either forwarding mode.
//
// Layout: one service (port 7001, --scale-mode proxy or nat) in the
// provider VPC; the first consumer VPC (10.1.0.0/16) holds all N
// endpoints, spread over /24 vSwitches of scalePerVSwitch endpoints in
// zone h, with a probe host on a vSwitch of its own, so its DNS view holds
// 2N names (each endpoint's domain and its zone's). Only beyond what one
// VPC's quota can hold (the endpointsPerVpc maximum, 20,000, less room for
// the timed creates and retried ones, scaleRoom) do the rest go to further
// VPCs of the same CIDR.
//
//	go run ./bench --only scale --scale-endpoints 10000 --scale-mode nat
//	go run ./bench --only scale --quick            # 300 endpoints, proxy
//
// Measured: the server's RSS and Go heap (and for nat the nft rule lines
// and conntrack entries of the VPC namespaces) at 0, N/10 and N endpoints;
// create → first traffic of cfg.CPEndpoints new endpoints with N existing;
// DNS qps and p99 over every name of one VPC's view; the time of
// GET /v1/endpoints listing all N; a restart until every endpoint serves.

// scalePerVSwitch is the endpoints per /24 vSwitch.
const scalePerVSwitch = 200

// scaleRoom is the endpointsPerVpc quota a VPC of perVPC endpoints gets
// beyond them: the timed creates, and 5% for creates answered 503 but
// stored anyway and retried (a 5,000 fill on a loaded machine had more
// than 20 of those in one VPC).
func scaleRoom(cfg Config, perVPC int) int { return cfg.CPEndpoints + 20 + perVPC/20 }

// scaleMaxPerVPC is the most endpoints the harness puts in one VPC: with
// its room, within the endpointsPerVpc quota's maximum.
func scaleMaxPerVPC(cfg Config) int {
	it, _ := model.QuotaItemNamed("endpointsPerVpc")
	return (it.Max - cfg.CPEndpoints - 20) * 20 / 21
}

// scaleNet is one consumer VPC of the scale workload, its probe and
// the ENI address file of its endpoints (one ADDR:PORT a line).
type scaleNet struct {
	net   scenario.Network
	probe *interactive
	eps   []model.Endpoint
}

func (h *harness) runScale(ctx context.Context) {
	if !h.cfg.optIn("scale") || ctx.Err() != nil {
		return
	}
	if err := h.scale(ctx); err != nil {
		h.rep.addError("scale", err)
	}
}

func (h *harness) scale(ctx context.Context) error {
	n, mode := h.cfg.ScaleEndpoints, h.cfg.ScaleMode
	perVPC := min(n, scaleMaxPerVPC(h.cfg))
	nVPC := (n + perVPC - 1) / perVPC
	nVS := (perVPC + scalePerVSwitch - 1) / scalePerVSwitch
	h.rep.note("scale layout: %d endpoints (mode %s) of one service; the first consumer VPC holds %d of them on %d /24 vSwitches (zone h), "+
		"%d consumer VPCs in all, plus %d in the first VPC for create → first traffic; the first VPC's DNS view holds %d names",
		n, mode, perVPC, nVS, nVPC, h.cfg.CPEndpoints, 2*perVPC)
	if h.srv.agent != nil {
		h.rep.note("scale: zone h's agent (all %d endpoints) runs as its own `privlink agent` process (--scale-agent-process): "+
			"RSS, heap and goroutines are the server's and the agent's together, and the restart rows restart the agent alone", n)
	}
	it, _ := model.QuotaItemNamed("endpointsPerVpc")
	epq, vsq, many := min(perVPC+scaleRoom(h.cfg, perVPC), it.Max), nVS+2, 1000
	if _, err := h.srv.admin().SetQuota(ctx, h.t.ConsumerID, api.SetQuotaRequest{EndpointsPerVpc: &epq, VSwitchesPerVpc: &vsq, Vpcs: &many}); err != nil {
		return fmt.Errorf("raise the consumer's quota: %w", err)
	}
	svc, err := h.t.Publish(ctx, h.t.ProviderNet, scenario.ServiceSpec{Description: "bench scale", Ports: []int{portEcho}, AutoAccept: true, Forwarding: mode})
	if err != nil {
		return err
	}
	var nets []*scaleNet
	for i := range nVPC {
		sn, err := h.newScaleNet(ctx, i, nVS)
		if err != nil {
			return err
		}
		nets = append(nets, sn)
	}
	h.scaleMem(ctx, "0", 0)
	tFill := time.Now()
	for _, stage := range []struct {
		label string
		count int
	}{{"n10", n / 10}, {"n", n}} {
		// With $PLBENCH_CPUPROFILE: a CPU profile of the first 20 s of the
		// last stage's creates and a heap profile after each stage.
		done := func() {}
		if stage.label == "n" {
			done = h.startProfile(ctx, "scale-fill", pathPrivlink, 1, 20*time.Second)
		}
		err := h.scaleFill(ctx, svc, nets, perVPC, stage.count)
		done()
		if err != nil {
			return err
		}
		if dir := profileDir(); dir != "" {
			if err := fetchPprof(ctx, h.srv.metrics, "heap?gc=1", filepath.Join(dir, "privlink-scale-heap-"+stage.label+".pprof")); err != nil {
				h.rep.addError("heap profile", err)
			}
		}
		h.scaleMem(ctx, stage.label, stage.count)
	}
	h.rep.add("scale-fill", pathPrivlink, time.Since(tFill).Seconds())
	if r := scaleRetries.Load(); r > 0 {
		h.rep.note("scale: %d endpoint creates were answered 503 ControlPlaneUnavailable or 409 Conflict.Concurrent and retried", r)
	}
	if err := h.scaleServeAll(nets, 10*time.Minute); err != nil {
		return fmt.Errorf("after the fill: %w", err)
	}
	h.rep.add("scale-fill-serve", pathPrivlink, time.Since(tFill).Seconds())
	h.scaleList(ctx)
	if err := h.scaleDNS(ctx, nets[0]); err != nil {
		h.rep.addError("scale dns", err)
	}
	if err := h.scaleCreate(ctx, svc, nets[0]); err != nil {
		h.rep.addError("scale create → first traffic", err)
	}
	// The sweep alone on the running system: what every "carried a round
	// trip" figure contains on top of the system's own work.
	tSweep := time.Now()
	if err := h.scaleServeAll(nets, 10*time.Minute); err != nil {
		return fmt.Errorf("steady sweep: %w", err)
	}
	h.rep.add("scale-sweep", pathPrivlink, time.Since(tSweep).Seconds())
	for run := 1; run <= h.cfg.Runs && ctx.Err() == nil; run++ {
		if a := h.srv.agent; a != nil {
			if err := h.scaleHandoff(ctx, nets); err != nil {
				return fmt.Errorf("handoff %d: %w", run, err)
			}
			if a.keeper {
				if err := h.scaleCrash(ctx, nets); err != nil {
					return fmt.Errorf("crash %d: %w", run, err)
				}
			}
		}
		if err := h.scaleRestart(ctx, run, nets); err != nil {
			return fmt.Errorf("restart %d: %w", run, err)
		}
	}
	return nil
}

// newScaleNet creates consumer VPC i with nVS endpoint vSwitches and a
// probe host on vSwitch nVS, and starts the probe in it.
func (h *harness) newScaleNet(ctx context.Context, i, nVS int) (*scaleNet, error) {
	spec := scenario.NetworkSpec{Name: fmt.Sprintf("bench-scale-%d", i+1), CIDR: consumerCIDR, SecurityGroup: securityGroup(portEcho, portEcho)}
	for s := range nVS + 1 {
		spec.VSwitches = append(spec.VSwitches, scenario.VSwitchSpec{ZoneID: zoneH, Subnet: s + 1})
	}
	spec.Hosts = []scenario.HostSpec{{Name: "probe", VSwitch: nVS}}
	v, err := h.t.Network(ctx, scenario.ConsumerSide, spec)
	if err != nil {
		return nil, err
	}
	if err := waitNetns(ctx, h.ns(v.Hosts[0].HostID), 60*time.Second); err != nil {
		return nil, err
	}
	pr, err := h.interactive(h.ns(v.Hosts[0].HostID), "probe")
	if err != nil {
		return nil, err
	}
	if _, err := probeCall(pr, "connect", "169.254.169.253:53", 60*time.Second); err != nil {
		return nil, fmt.Errorf("probe host of %s never reached its VPC: %w", v.VPC.VpcID, err)
	}
	return &scaleNet{net: v, probe: pr}, nil
}

// scaleFill creates endpoints (8 requests in flight) until the VPCs hold
// total between them, filling each to perVPC before the next, then waits
// until all are Active.
func (h *harness) scaleFill(ctx context.Context, svc model.EndpointService, nets []*scaleNet, perVPC, total int) error {
	have := 0
	for _, sn := range nets {
		have += len(sn.eps)
	}
	type job struct{ net, vs int }
	var jobs []job
	for i := have; i < total; i++ {
		jobs = append(jobs, job{i / perVPC, (i % perVPC) / scalePerVSwitch})
	}
	slog.Info("scale: creating endpoints", "count", len(jobs), "existing", have)
	var mu sync.Mutex
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(jobs) && ctx.Err() == nil && firstErr.Load() == nil; i = int(next.Add(1) - 1) {
				j := jobs[i]
				ep, err := h.connectRetry(ctx, nets[j.net].net, svc, j.vs)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				mu.Lock()
				nets[j.net].eps = append(nets[j.net].eps, ep)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Minute)
	for {
		// Unfiltered (O(page) a page), the service picked here.
		eps, err := h.t.Consumer.ListEndpoints(ctx, client.Filter{})
		if err != nil {
			return fmt.Errorf("list endpoints: %w", err)
		}
		active := 0
		for _, e := range eps {
			if e.ServiceID == svc.ServiceID && client.Active(e) {
				active++
			}
		}
		if active >= total {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("only %d of %d endpoints Active", active, total)
		}
		time.Sleep(time.Second)
	}
}

// scaleRetries counts creates answered 503 ControlPlaneUnavailable ("retry
// later") or 409 Conflict.Concurrent and retried, reported as a note.
var scaleRetries atomic.Int64

// connectRetry creates an endpoint on vSwitch vs, retrying (up to 30
// times, 2 s apart) what the API answers with 503 ControlPlaneUnavailable
// or 409 Conflict.Concurrent, as their messages ask. Such a create may have been stored anyway: the VPC's
// quota leaves room for that.
func (h *harness) connectRetry(ctx context.Context, v scenario.Network, svc model.EndpointService, vs int) (model.Endpoint, error) {
	for try := 0; ; try++ {
		ep, err := h.t.Connect(ctx, v, svc, scenario.EndpointSpec{VSwitches: []int{vs}})
		var ae *api.Error
		// 503 ControlPlaneUnavailable and 409 Conflict.Concurrent (creates
		// racing on the one VPC's quota and address keys) both ask for a retry.
		if err == nil || try == 30 || !errors.As(err, &ae) ||
			(ae.Status != http.StatusServiceUnavailable && ae.Code != "Conflict.Concurrent") {
			return ep, err
		}
		scaleRetries.Add(1)
		time.Sleep(2 * time.Second)
	}
}

// scaleMem records the server's RSS and Go heap with count endpoints (and
// per endpoint, against the first sample), and for nat the kernel side.
func (h *harness) scaleMem(ctx context.Context, label string, count int) {
	time.Sleep(3 * time.Second) // a few reconcile rounds and a GC
	rss, err := rssBytes(h.srv.pids())
	if err != nil {
		h.rep.addError("scale rss", err)
		return
	}
	rssMiB, heap := float64(rss)/(1<<20), h.heapMiB()
	h.rep.add("scale-rss-"+label, pathPrivlink, rssMiB)
	h.rep.add("scale-heap-"+label, pathPrivlink, heap)
	h.rep.add("scale-goroutines-"+label, pathPrivlink, h.metricValue("go_goroutines"))
	if count > 0 {
		base := h.rep.Values("scale-rss-0", pathPrivlink)
		baseHeap := h.rep.Values("scale-heap-0", pathPrivlink)
		if len(base) > 0 && len(baseHeap) > 0 {
			h.rep.add("scale-rss-per-"+label, pathPrivlink, (rssMiB-base[0])*1024/float64(count))
			h.rep.add("scale-heap-per-"+label, pathPrivlink, (heap-baseHeap[0])*1024/float64(count))
		}
	}
	rules, ct := h.kernelObjects(ctx)
	h.rep.add("scale-nft-"+label, pathPrivlink, float64(rules))
	h.rep.add("scale-ct-"+label, pathPrivlink, float64(ct))
	slog.Info("measured", "workload", "scale", "endpoints", count, "rssMiB", rssMiB, "heapMiB", heap, "nftLines", rules, "conntrack", ct)
}

// kernelObjects counts the lines of `nft list ruleset` (rules, set and
// map elements, one a line) and the conntrack entries over every network
// namespace of this run.
func (h *harness) kernelObjects(ctx context.Context) (nftLines, conntrack int) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return -1, -1
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], h.prefix+"-") {
			continue
		}
		if b, err := exec.CommandContext(ctx, "ip", "netns", "exec", f[0], "nft", "list", "ruleset").Output(); err == nil {
			nftLines += strings.Count(string(b), "\n")
		}
		if b, err := exec.CommandContext(ctx, "ip", "netns", "exec", f[0], "cat", "/proc/sys/net/netfilter/nf_conntrack_count").Output(); err == nil {
			v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			conntrack += v
		}
	}
	return nftLines, conntrack
}

// scaleServeAll probes every endpoint of every VPC (the VPCs in
// parallel) and returns when all carried a round trip.
func (h *harness) scaleServeAll(nets []*scaleNet, timeout time.Duration) error {
	_, err := h.scaleSweep(nets, timeout)
	return err
}

// sweepStats are what a client would have noticed during a sweep: the
// attempts refused or reset (a probe retries them until the endpoint
// serves), and the longest any endpoint took to carry its round trip from
// its first attempt.
type sweepStats struct {
	refused int
	maxWait time.Duration
}

// scaleSweep is scaleServeAll that also returns its sweepStats.
func (h *harness) scaleSweep(nets []*scaleNet, timeout time.Duration) (sweepStats, error) {
	errs := make(chan error, len(nets))
	var mu sync.Mutex
	var st sweepStats
	for i, sn := range nets {
		go func() {
			file := filepath.Join(h.tmp, fmt.Sprintf("scale-enis-%d", i))
			var b strings.Builder
			for _, ep := range sn.eps {
				fmt.Fprintln(&b, withPort(ep.Zones[0].IP.String(), portEcho))
			}
			if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
				errs <- err
				return
			}
			_, extra, err := probeCallExtra(sn.probe, "echoall", file, timeout)
			var refused int
			var waitUS int64
			if _, tail, ok := strings.Cut(extra, "refused="); ok {
				fmt.Sscanf(tail, "%d maxwait=%dus", &refused, &waitUS)
			}
			mu.Lock()
			st.refused += refused
			st.maxWait = max(st.maxWait, time.Duration(waitUS)*time.Microsecond)
			mu.Unlock()
			errs <- err
		}()
	}
	var first error
	for range nets {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return st, first
}

// scaleList times GET /v1/endpoints listing every endpoint (all pages).
func (h *harness) scaleList(ctx context.Context) {
	var lat []float64
	for range 5 {
		t0 := time.Now()
		eps, err := h.t.Consumer.ListEndpoints(ctx, client.Filter{})
		if err != nil {
			h.rep.addError("scale list", err)
			return
		}
		lat = append(lat, ms(time.Since(t0)))
		slog.Debug("listed", "endpoints", len(eps))
	}
	h.rep.add("scale-list", pathPrivlink, quantile(lat, 0.5))
	h.rep.add("scale-list-max", pathPrivlink, quantile(lat, 1))
}

// scaleDNS queries every name of the first VPC's view (A), 8 UDP
// workers, from its probe host.
func (h *harness) scaleDNS(ctx context.Context, sn *scaleNet) error {
	file := filepath.Join(h.tmp, "scale-names")
	var b strings.Builder
	for _, ep := range sn.eps {
		fmt.Fprintln(&b, ep.EndpointDomain)
		for _, z := range ep.Zones {
			fmt.Fprintln(&b, z.ZoneDomain)
		}
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return err
	}
	out, err := runChild(ctx, h.self, h.ns(sn.net.Hosts[0].HostID), "load", h.cfg.Duration+2*time.Minute,
		"--mode", "dns", "--name", "@"+file, "--conc", "8", "--target", "169.254.169.253:53", "--dur", h.cfg.Duration.String())
	if err != nil {
		return err
	}
	var res loadResult
	if err := json.Unmarshal(out, &res); err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d failed queries, first: %s", res.Errors, res.FirstErr)
	}
	h.rep.add("scale-dns-names", pathPrivlink, float64(strings.Count(b.String(), "\n")))
	h.rep.add("scale-dns-qps", pathPrivlink, rate(res))
	h.rep.add("scale-dns-p99", pathPrivlink, res.P99us)
	return nil
}

// scaleCreate creates cfg.CPEndpoints endpoints one after the other in the
// first VPC (N existing) and times each from the POST until its probe
// completes a round trip through it; it deletes them afterwards.
func (h *harness) scaleCreate(ctx context.Context, svc model.EndpointService, sn *scaleNet) error {
	var total, apiLat []float64
	var ids []string
	defer func() {
		if err := h.deleteEndpoints(ctx, ids); err != nil {
			h.rep.addError("scale: delete the created endpoints", err)
		}
	}()
	last := len(sn.net.VSwitches) - 2 // the last endpoint vSwitch (the probe's is after it)
	for i := 0; i < h.cfg.CPEndpoints && ctx.Err() == nil; i++ {
		t0 := time.Now()
		ep, err := h.connectRetry(ctx, sn.net, svc, last)
		tAPI := time.Since(t0)
		if err != nil {
			return err
		}
		ids = append(ids, ep.EndpointID)
		if len(ep.Zones) == 0 || !ep.Zones[0].IP.IsValid() {
			return fmt.Errorf("endpoint %s has no zone IP in the create response", ep.EndpointID)
		}
		if _, err := probeCall(sn.probe, "echo", ep.Zones[0].IP.String(), 30*time.Second); err != nil {
			return fmt.Errorf("endpoint %s: %w", ep.EndpointID, err)
		}
		total = append(total, ms(time.Since(t0)))
		apiLat = append(apiLat, ms(tAPI))
	}
	h.rep.add("scale-create-p50", pathPrivlink, quantile(total, 0.5))
	h.rep.add("scale-create-p99", pathPrivlink, quantile(total, 0.99))
	h.rep.add("scale-create-api", pathPrivlink, quantile(apiLat, 0.5))
	slog.Info("measured", "workload", "scale-create", "p50ms", quantile(total, 0.5), "p99ms", quantile(total, 0.99))
	return nil
}

// scaleRestart stops the server and starts it again on the same data dir
// (with --scale-agent-process: zone h's agent alone, whose lease is
// revoked, so its zone is withdrawn); it times /readyz and until every
// endpoint of every VPC has carried a round trip, from the new process's
// start. With $PLBENCH_CPUPROFILE the restarted process (the agent and
// the server, for an agent) is profiled for 6 s from /readyz on (the
// sweep's window).
func (h *harness) scaleRestart(ctx context.Context, run int, nets []*scaleNet) error {
	workload := "scale-restart"
	stop, start, waitReady := h.srv.stop, func() error { return h.srv.start(false) }, h.srv.waitReady
	profile := func() func() { return h.startProfile(ctx, workload, pathPrivlink, run, 6*time.Second) }
	if a := h.srv.agent; a != nil {
		workload = "scale-agent-restart"
		stop, start, waitReady = a.stop, a.start, a.waitReady
		profile = func() func() {
			dir := profileDir()
			if dir == "" {
				return func() {}
			}
			var dones []func()
			for _, p := range []struct{ name, metrics string }{{"agent", a.metrics}, {"server", h.srv.metrics}} {
				file := filepath.Join(dir, fmt.Sprintf("privlink-%s-agent-restart-%d.pprof", p.name, a.starts))
				dones = append(dones, h.profileOf(ctx, p.metrics, file, 6*time.Second))
			}
			return func() {
				for _, done := range dones {
					done()
				}
			}
		}
	}
	if err := stop(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	ready, all, err := h.startTimed(ctx, start, waitReady, 5*time.Minute, func() error { return h.scaleServeAll(nets, 5*time.Minute) }, profile)
	if err != nil {
		return err
	}
	h.rep.add(workload+"-ready", pathPrivlink, ready.Seconds())
	h.rep.add(workload+"-all", pathPrivlink, all.Seconds())
	slog.Info("measured", "workload", workload, "ready", ready.Round(time.Millisecond), "allServe", all.Round(time.Millisecond))
	return nil
}

// scaleHandoff restarts zone h's agent the planned way: its successor
// starts beside it with the same --handoff-socket and takes over its
// sockets and lease. From the successor's start it times the takeover
// and a sweep begun at once until every endpoint carried a round trip,
// counting the attempts refused or reset (a client would have seen
// them); then, the predecessor gone, a sweep served by the successor.
//
// Under a socket keeper (--scale-agent-keeper) the handoff is a reload:
// SIGHUP to the keeper, which starts the successor itself.
func (h *harness) scaleHandoff(ctx context.Context, nets []*scaleNet) error {
	a := h.srv.agent
	oldExited := a.p.exited
	t0 := time.Now()
	if a.keeper {
		pid, err := a.worker()
		if err != nil {
			return err
		}
		oldExited = func() bool { return processGone(pid) }
		if err := syscall.Kill(a.p.pid(), syscall.SIGHUP); err != nil {
			return err
		}
	} else if err := a.start(); err != nil {
		return err
	}
	took, all, during, err := h.sweepTakeover(ctx, t0, nets, "handoff: took over")
	if err != nil {
		return fmt.Errorf("during the handoff: %w", err)
	}
	for deadline := time.Now().Add(30 * time.Second); !oldExited(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("the predecessor did not exit after the handoff")
		}
	}
	gone := time.Since(t0)
	t1 := time.Now()
	afterStats, err := h.scaleSweep(nets, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("sweep after the handoff: %w", err)
	}
	after := time.Since(t1)
	h.rep.add("scale-agent-handoff-took", pathPrivlink, took.Seconds())
	h.rep.add("scale-agent-handoff-all", pathPrivlink, all.Seconds())
	h.rep.add("scale-agent-handoff-refused", pathPrivlink, float64(during.refused+afterStats.refused))
	h.rep.add("scale-agent-handoff-maxwait", pathPrivlink, ms(during.maxWait))
	h.rep.add("scale-agent-handoff-after", pathPrivlink, after.Seconds())
	slog.Info("measured", "workload", "scale-agent-handoff", "tookOver", took.Round(time.Millisecond), "allServed", all.Round(time.Millisecond),
		"predecessorGone", gone.Round(time.Millisecond), "refused", during.refused, "maxWait", during.maxWait.Round(time.Millisecond),
		"sweepAfter", after.Round(time.Millisecond), "refusedAfter", afterStats.refused)
	return nil
}

// sweepTakeover sweeps every endpoint from t0 while it waits for the
// agent's log to say took (once in the current log: one per start of the
// process, or of its keeper); it returns when that was said and when the
// sweep ended (both from t0), and the sweep's stats.
func (h *harness) sweepTakeover(ctx context.Context, t0 time.Time, nets []*scaleNet, took string) (time.Duration, time.Duration, sweepStats, error) {
	var at time.Duration
	tookCh := make(chan error, 1)
	go func() {
		err := h.srv.agent.waitLog(ctx, took, 1, 5*time.Minute)
		at = time.Since(t0)
		tookCh <- err
	}()
	st, err := h.scaleSweep(nets, 5*time.Minute)
	all := time.Since(t0)
	if terr := <-tookCh; terr != nil {
		return 0, 0, st, terr
	}
	if err != nil {
		return 0, 0, st, fmt.Errorf("sweep: %w", err)
	}
	return at, all, st, nil
}

// scaleCrash kills zone h's agent (-9) under its socket keeper
// (--scale-agent-keeper): from the kill it times the next agent's
// takeover and a sweep begun at once until every endpoint carried a round
// trip, counting the attempts refused or reset and the longest any
// endpoint made its client wait.
func (h *harness) scaleCrash(ctx context.Context, nets []*scaleNet) error {
	pid, err := h.srv.agent.worker()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	took, all, during, err := h.sweepTakeover(ctx, t0, nets, "socket keeper: took over from a worker that died")
	if err != nil {
		return fmt.Errorf("after the kill: %w", err)
	}
	h.rep.add("scale-agent-crash-took", pathPrivlink, took.Seconds())
	h.rep.add("scale-agent-crash-all", pathPrivlink, all.Seconds())
	h.rep.add("scale-agent-crash-refused", pathPrivlink, float64(during.refused))
	h.rep.add("scale-agent-crash-maxwait", pathPrivlink, ms(during.maxWait))
	slog.Info("measured", "workload", "scale-agent-crash", "tookOver", took.Round(time.Millisecond), "allServed", all.Round(time.Millisecond),
		"refused", during.refused, "maxWait", during.maxWait.Round(time.Millisecond))
	return nil
}

func scaleRows(cfg Config) []rowDef {
	n := cfg.ScaleEndpoints
	s := fmt.Sprintf("scale (%s): ", cfg.ScaleMode)
	row := func(id, title, unit string) rowDef { return rowDef{id, s + title, unit, false, onlyPL, "scale"} }
	var out []rowDef
	for _, c := range []struct {
		label string
		count int
	}{{"0", 0}, {"n10", n / 10}, {"n", n}} {
		out = append(out,
			row("scale-rss-"+c.label, fmt.Sprintf("server RSS, %d endpoints", c.count), "MiB"),
			row("scale-heap-"+c.label, fmt.Sprintf("server Go heap in use, %d endpoints", c.count), "MiB"),
			row("scale-goroutines-"+c.label, fmt.Sprintf("server goroutines, %d endpoints", c.count), "goroutines"),
			row("scale-nft-"+c.label, fmt.Sprintf("nft ruleset lines over all namespaces, %d endpoints", c.count), "lines"),
			row("scale-ct-"+c.label, fmt.Sprintf("conntrack entries over all namespaces, %d endpoints", c.count), "entries"))
		if c.count > 0 {
			out = append(out,
				row("scale-rss-per-"+c.label, fmt.Sprintf("server RSS per endpoint (delta from 0), %d endpoints", c.count), "KiB"),
				row("scale-heap-per-"+c.label, fmt.Sprintf("server Go heap per endpoint (delta from 0), %d endpoints", c.count), "KiB"))
		}
	}
	restart := []rowDef{
		row("scale-restart-ready", fmt.Sprintf("restart with %d endpoints → /readyz", n), "s"),
		row("scale-restart-all", fmt.Sprintf("restart with %d endpoints → every endpoint carried a round trip", n), "s"),
	}
	if cfg.ScaleAgent {
		restart = []rowDef{
			row("scale-agent-restart-ready", fmt.Sprintf("zone agent process restart with %d endpoints → its /readyz", n), "s"),
			row("scale-agent-restart-all", fmt.Sprintf("zone agent process restart with %d endpoints → every endpoint carried a round trip", n), "s"),
			row("scale-agent-handoff-took", fmt.Sprintf("zone agent handoff (--handoff-socket; under a keeper: SIGHUP) with %d endpoints → the successor took over", n), "s"),
			row("scale-agent-handoff-all", fmt.Sprintf("zone agent handoff with %d endpoints → every endpoint carried a round trip (sweep from the successor's start)", n), "s"),
			row("scale-agent-handoff-refused", "zone agent handoff: connection attempts refused or reset (during and after)", "attempts"),
			row("scale-agent-handoff-maxwait", "zone agent handoff: longest any endpoint took to carry its round trip (from its first attempt) during the handoff", "ms"),
			row("scale-agent-handoff-after", fmt.Sprintf("zone agent handoff: a round trip through every endpoint, successor alone, %d endpoints", n), "s"),
		}
		if cfg.ScaleKeeper {
			restart = append(restart,
				row("scale-agent-crash-took", fmt.Sprintf("zone agent under a socket keeper killed (-9) with %d endpoints → the next agent took over", n), "s"),
				row("scale-agent-crash-all", fmt.Sprintf("zone agent killed under its keeper, %d endpoints → every endpoint carried a round trip (sweep from the kill)", n), "s"),
				row("scale-agent-crash-refused", "zone agent killed under its keeper: connection attempts refused or reset", "attempts"),
				row("scale-agent-crash-maxwait", "zone agent killed under its keeper: longest any endpoint took to carry its round trip (from its first attempt)", "ms"))
		}
	}
	out = append(out,
		row("scale-fill", fmt.Sprintf("create %d endpoints (8 in flight) until all Active", n), "s"),
		row("scale-fill-serve", fmt.Sprintf("create %d endpoints until every one carried a round trip", n), "s"),
		row("scale-list", fmt.Sprintf("GET /v1/endpoints, all %d+ (every page), p50 of 5", n), "ms"),
		row("scale-list-max", fmt.Sprintf("GET /v1/endpoints, all %d+ (every page), max of 5", n), "ms"),
		row("scale-dns-names", "DNS names queried (one VPC's view)", "names"),
		row("scale-dns-qps", "DNS A queries over every name of the view, 8 UDP workers", "qps"),
		row("scale-dns-p99", "DNS query latency p99", "µs"),
		row("scale-create-p50", fmt.Sprintf("endpoint create → first traffic, %d existing, p50 of %d", n, cfg.CPEndpoints), "ms"),
		row("scale-create-p99", fmt.Sprintf("endpoint create → first traffic, %d existing, p99", n), "ms"),
		row("scale-create-api", fmt.Sprintf("POST /v1/endpoints latency, %d existing, p50", n), "ms"),
		row("scale-sweep", fmt.Sprintf("a round trip through every endpoint, running system (the sweep the restart row contains), %d endpoints", n), "s"),
	)
	return append(out, restart...)
}
