package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/scenario"
)

// Overload: a second consumer account (the flooder) gets its own VPC, host
// and endpoint to the control-plane service and floods it (connections
// churned and held, raw SYNs) and the API (VPC creates and deletes), while
// the data-plane consumer (the victim) measures its endpoint (connect,
// 64 B round trip, close, every 10 ms) and the API (GET its endpoint,
// every 20 ms): before the flood, then during it. The victim's requests
// must all succeed; the latencies are reported, never asserted.

// floodSettings size the flood of one run.
type floodSettings struct {
	churn, hold, syns, synRate, apiWorkers int
}

func (h *harness) floodSettings() floodSettings {
	if h.cfg.Quick {
		return floodSettings{churn: 8, hold: 200, syns: 5000, synRate: 5000, apiWorkers: 2}
	}
	return floodSettings{churn: 64, hold: 4000, syns: 200000, synRate: 20000, apiWorkers: 4}
}

// flooder is the attacking tenant.
type flooder struct {
	c    *client.Client
	host model.Host
	eni  string
}

// newFlooder creates the flooder's account, allow-lists it on the
// control-plane service and builds its VPC, host and endpoint.
func (h *harness) newFlooder(ctx context.Context) (*flooder, error) {
	c, acct, err := h.srv.admin().CreateAccountClient(ctx, "bench-flooder")
	if err != nil {
		return nil, fmt.Errorf("flooder account: %w", err)
	}
	if _, err := h.t.Provider.AllowAccount(ctx, h.t.cpSvc.ServiceID, acct.AccountID); err != nil {
		return nil, fmt.Errorf("allow the flooder: %w", err)
	}
	b := &scenario.Builder{Provider: h.t.Provider, Consumer: c, ProviderID: h.t.ProviderID, ConsumerID: acct.AccountID}
	n, err := b.Network(ctx, scenario.ConsumerSide, scenario.NetworkSpec{Name: "bench-flooder", CIDR: consumerCIDR,
		VSwitches: scenario.PerZone([]string{zoneH}, 1), SecurityGroup: securityGroup(portEcho, portEcho),
		Hosts: []scenario.HostSpec{{Name: "flooder"}}})
	if err != nil {
		return nil, err
	}
	ep, err := b.Connect(ctx, n, h.t.cpSvc, scenario.EndpointSpec{VSwitches: []int{0}})
	if err != nil {
		return nil, err
	}
	if ep, err = waitActive(ctx, c, ep.EndpointID, 60*time.Second); err != nil {
		return nil, err
	}
	f := &flooder{c: c, host: n.Hosts[0], eni: ep.Zones[0].IP.String()}
	if err := waitNetns(ctx, h.ns(f.host.HostID), 30*time.Second); err != nil {
		return nil, err
	}
	for _, id := range []string{f.host.HostID, n.VPC.VpcID} {
		if err := run(ctx, "ip", "netns", "exec", h.ns(id), "sysctl", "-q", "-w",
			"net.ipv4.ip_local_port_range=10000 65000", "net.ipv4.tcp_tw_reuse=1"); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (h *harness) runOverload(ctx context.Context) {
	if !h.cfg.optIn("overload") || ctx.Err() != nil {
		return
	}
	if err := h.overload(ctx); err != nil {
		h.rep.addError("overload", err)
	}
}

// victimSample is one phase's measurement of the victim.
type victimSample struct {
	tcp      loadResult
	api      []int64 // ns
	apiErrs  int
	apiFirst error
}

func (h *harness) overload(ctx context.Context) error {
	f, err := h.newFlooder(ctx)
	if err != nil {
		return err
	}
	d := h.cfg.OverloadDur
	before, err := h.victim(ctx, d)
	if err != nil {
		return err
	}
	fs := h.floodSettings()
	ramp := time.Second
	window := ramp + d + 500*time.Millisecond
	var wg sync.WaitGroup
	var flood loadResult
	var floodErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		var out []byte
		out, floodErr = runChild(ctx, h.self, h.ns(f.host.HostID), "load", window+2*time.Minute,
			"--mode", "flood", "--target", f.eni, "--src", f.host.IP.String(), "--conc", strconv.Itoa(fs.churn),
			"--hold", strconv.Itoa(fs.hold), "--syns", strconv.Itoa(fs.syns), "--syn-rate", strconv.Itoa(fs.synRate), "--dur", window.String())
		if floodErr == nil {
			floodErr = json.Unmarshal(out, &flood)
		}
	}()
	apiOps, apiCodes := h.apiFlood(ctx, f.c, fs.apiWorkers, window)
	time.Sleep(ramp)
	during, err := h.victim(ctx, d)
	wg.Wait()
	ops := <-apiOps
	if err != nil {
		return err
	}
	if floodErr != nil {
		h.rep.addError("overload: flood child", floodErr)
	}
	for _, ph := range []struct {
		name string
		s    victimSample
	}{{"before", before}, {"during", during}} {
		if ph.s.tcp.Errors > 0 {
			h.rep.addError("overload: victim endpoint "+ph.name+" the flood", fmt.Errorf("%d of %d probes failed, first: %s",
				ph.s.tcp.Errors, ph.s.tcp.Errors+ph.s.tcp.Ops, ph.s.tcp.FirstErr))
		}
		if ph.s.apiErrs > 0 {
			h.rep.addError("overload: victim API "+ph.name+" the flood", fmt.Errorf("%d of %d GETs failed, first: %v",
				ph.s.apiErrs, ph.s.apiErrs+len(ph.s.api), ph.s.apiFirst))
		}
	}
	bp50, bp99 := percentiles(before.api)
	dp50, dp99 := percentiles(during.api)
	r := h.rep
	r.add("ov-tcp-p50-b", pathPrivlink, before.tcp.P50us)
	r.add("ov-tcp-p99-b", pathPrivlink, before.tcp.P99us)
	r.add("ov-tcp-p50-d", pathPrivlink, during.tcp.P50us)
	r.add("ov-tcp-p99-d", pathPrivlink, during.tcp.P99us)
	r.add("ov-api-p50-b", pathPrivlink, bp50/1e3)
	r.add("ov-api-p99-b", pathPrivlink, bp99/1e3)
	r.add("ov-api-p50-d", pathPrivlink, dp50/1e3)
	r.add("ov-api-p99-d", pathPrivlink, dp99/1e3)
	if before.tcp.P99us > 0 {
		r.add("ov-tcp-ratio", pathPrivlink, during.tcp.P99us/before.tcp.P99us)
	}
	if bp99 > 0 {
		r.add("ov-api-ratio", pathPrivlink, dp99/bp99)
	}
	secs := window.Seconds()
	r.add("ov-flood-conns", pathPrivlink, float64(flood.Ops)/secs)
	r.add("ov-flood-held", pathPrivlink, float64(flood.Conns))
	r.add("ov-flood-syns", pathPrivlink, float64(flood.Syns)/secs)
	r.add("ov-flood-api", pathPrivlink, float64(ops)/secs)
	r.note("overload: victim probes %d before, %d during (every 10 ms), victim GETs %d before, %d during (every 20 ms); "+
		"the flood (%v, %d churn workers, up to %d held, %d SYNs at %d/s, %d API workers) had %d failed connections (first: %s) and API answers %s",
		before.tcp.Ops, during.tcp.Ops, len(before.api), len(during.api), window, fs.churn, fs.hold, fs.syns, fs.synRate, fs.apiWorkers,
		flood.Errors, orNone(flood.FirstErr), <-apiCodes)
	slog.Info("measured", "workload", "overload", "tcpP99Before", before.tcp.P99us, "tcpP99During", during.tcp.P99us,
		"apiP99BeforeMs", bp99/1e6, "apiP99DuringMs", dp99/1e6, "floodConns", flood.Ops, "held", flood.Conns, "syns", flood.Syns, "apiOps", ops)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// victim measures the victim's endpoint and API for d, at the same time.
func (h *harness) victim(ctx context.Context, d time.Duration) (victimSample, error) {
	var s victimSample
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := *h.t.Consumer
		deadline := time.Now().Add(d)
		for next := time.Now(); next.Before(deadline) && ctx.Err() == nil; {
			time.Sleep(time.Until(next))
			t0 := time.Now()
			next = t0.Add(20 * time.Millisecond)
			if _, err := hc.GetEndpoint(ctx, h.t.Endpoint.EndpointID); err != nil {
				s.apiErrs++
				if s.apiFirst == nil {
					s.apiFirst = err
				}
				continue
			}
			s.api = append(s.api, int64(time.Since(t0)))
		}
	}()
	out, err := runChild(ctx, h.self, h.ns(h.t.client.HostID), "load", d+2*time.Minute,
		"--mode", "paced", "--target", h.t.eni, "--interval", "10ms", "--dur", d.String())
	wg.Wait()
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(out, &s.tcp)
}

// apiFlood has workers create and delete VPCs as the flooder for d (at
// most 20,000 requests); it returns the request count and a summary of the
// answers' codes once done.
func (h *harness) apiFlood(ctx context.Context, c *client.Client, workers int, d time.Duration) (<-chan int64, <-chan string) {
	opsc, codesc := make(chan int64, 1), make(chan string, 1)
	var ops atomic.Int64
	var mu sync.Mutex
	codes := map[string]int{}
	count := func(err error) {
		code := "ok"
		var ae *api.Error
		if errors.As(err, &ae) {
			code = ae.Code
		} else if err != nil {
			code = "transport"
		}
		mu.Lock()
		codes[code]++
		mu.Unlock()
	}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil && ops.Load() < 20000 {
				v, err := c.CreateVPC(ctx, api.CreateVPCRequest{Name: fmt.Sprintf("flood-%d", i), CidrBlock: "10.50.0.0/16"})
				ops.Add(1)
				count(err)
				if err == nil {
					_, err = c.DeleteVPC(ctx, v.VpcID)
					ops.Add(1)
					count(err)
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		opsc <- ops.Load()
		var parts []string
		for k, n := range codes {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, n))
		}
		sort.Strings(parts)
		codesc <- strings.Join(slices.Clip(parts), ", ")
	}()
	return opsc, codesc
}
