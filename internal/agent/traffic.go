package agent

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/proxy"
	"github.com/privlink/privlink/internal/traffic"
)

// DefaultTrafficEvery is how often an agent writes its traffic reports.
const DefaultTrafficEvery = time.Minute

// trafficState is the agent's traffic history: a ring per endpoint zone it
// serves, and what it last wrote.
type trafficState struct {
	rings     map[string]*traffic.Ring
	latest    map[string]traffic.Sample // the last reading of each one's counters
	lastWrite time.Time
	// written: per endpoint zone, what a reader of its traffic key sees
	// (the counters and backend health last written, or skipped as
	// showing nothing new); empty after a fresh lease.
	written map[string]shown
	// lastSample: when the counters were last read into the rings. The
	// agent reconciles after every change; reading every endpoint's
	// counters each time cost 6% of the server's CPU while 1,000
	// endpoints were being created (docs/benchmarks.md, scale), and the
	// rings' finest interval is a minute.
	lastSample time.Time
}

// leaseRenewed: every traffic key went with the old lease, so a reader
// sees none. The next write is a period from now, like any other: after a
// restart the first round serves every endpoint zone and its status
// reports go out at once; their traffic reports (hour and day series,
// ~2 KB each, 10,000 at 10,000 endpoints) would compete with the
// listeners coming up for no news (the history was in the old process).
func (ts *trafficState) leaseRenewed(now time.Time) {
	ts.written, ts.lastWrite = map[string]shown{}, now
}

// shown is what an endpoint zone's traffic report showed when written.
type shown struct {
	counts traffic.Sample
	health string // healthKey of its backend checks
}

// trafficSampleEvery is the most often the counters are read into the
// rings (TrafficEvery if shorter). The counters are cumulative, so a
// skipped round loses nothing.
const trafficSampleEvery = time.Second

// reportTraffic samples the proxy counters of every served endpoint zone
// into its ring and, every TrafficEvery, writes one traffic report per
// endpoint zone under the agent's lease (traffic/<zone>/<endpoint>): the
// hour and day windows and the last check of each backend. An endpoint
// zone that stays idle (no traffic in the day, backends' health unchanged)
// is not written again, so idle endpoints cost no etcd writes.
func (a *Agent) reportTraffic(ctx context.Context, d *desired, now time.Time) error {
	ts := &a.traffic
	if ts.rings == nil {
		ts.rings = map[string]*traffic.Ring{}
		ts.latest = map[string]traffic.Sample{}
	}
	sample := now.Sub(ts.lastSample) >= min(trafficSampleEvery, a.cfg.TrafficEvery)
	if sample {
		ts.lastSample = now
	}
	for epID := range d.zones {
		r := ts.rings[epID]
		if r == nil {
			r = traffic.NewRing()
			ts.rings[epID] = r
		} else if !sample {
			continue
		}
		var c proxy.Counters
		if len(d.ports[epID]) > 0 { // has listeners: its series exist (Read of others would make them)
			c = a.cfg.Metrics.Read(epID, a.cfg.Zone)
		}
		sm := traffic.Sample{Active: c.Active, Conns: c.Conns, BytesIn: c.BytesIn, BytesOut: c.BytesOut,
			RejectedSG: c.SGDrops, RejectedLimit: c.Limited, RejRevoke: c.Revoked}
		r.Add(now, sm)
		ts.latest[epID] = sm
	}
	for epID := range ts.rings {
		if _, ok := d.zones[epID]; !ok {
			delete(ts.rings, epID)
			delete(ts.latest, epID)
		}
	}
	st := a.cfg.Store
	writes := map[string]any{}
	for epID := range ts.written { // endpoint zones no longer served: at once
		if _, ok := ts.rings[epID]; !ok {
			writes[st.TrafficKey(a.cfg.Zone, epID)] = nil
		}
	}
	if ts.written != nil && now.Sub(ts.lastWrite) < a.cfg.TrafficEvery {
		if len(writes) == 0 {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if err := a.lease.Write(cctx, writes); err != nil {
			return err
		}
		for epID := range ts.written {
			if _, ok := ts.rings[epID]; !ok {
				delete(ts.written, epID)
			}
		}
		return nil
	}
	written := map[string]shown{}
	for epID, r := range ts.rings {
		rep := model.TrafficReport{EndpointID: epID, ZoneID: a.cfg.Zone, UpdateTime: now.UTC().Format(time.RFC3339)}
		rep.Hour, rep.Day = r.Series(now)
		rep.Backends = a.backendChecks(d, epID)
		idle := traffic.Total(rep.Day.ActiveConnections) == 0 && traffic.Total(rep.Day.NewConnections) == 0 &&
			traffic.Total(rep.Day.RejectedSecurityGroup)+traffic.Total(rep.Day.RejectedLimit)+traffic.Total(rep.Day.RejectedRevoked) == 0
		cur := shown{counts: ts.latest[epID], health: healthKey(rep.Backends)}
		prev, had := ts.written[epID]
		written[epID] = cur
		if worthWriting(idle, had, prev, cur) {
			writes[st.TrafficKey(a.cfg.Zone, epID)] = rep
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := a.lease.Write(cctx, writes); err != nil {
		return err
	}
	ts.written, ts.lastWrite = written, now
	return nil
}

// worthWriting tells whether an endpoint zone's traffic report would show
// a reader anything new; readers align the series by time, so a report
// left as it was reads as zeros from its update time on.
//   - One was written (had): when its counters moved since, connections are
//     open (the active gauge's new intervals are not zero), or a backend's
//     health changed. 10,000 endpoints that each carried one connection in
//     the day were each rewritten every minute before (hour and day
//     series, ~2 KB each, into etcd and every watcher).
//   - None was written (a new endpoint zone, or every one after a fresh
//     lease): unless the day is idle (what a missing report reads as) and
//     no backend has been checked yet.
func worthWriting(idle, had bool, prev, cur shown) bool {
	if had {
		return cur != prev || cur.counts.Active != 0
	}
	return !idle || strings.ContainsAny(cur.health, "+-")
}

// backendChecks is the last check of each backend of an endpoint zone
// (at most model.MaxTrafficBackends, in address order).
func (a *Agent) backendChecks(d *desired, epID string) []model.BackendCheck {
	seen := map[netip.AddrPort]string{} // backend -> provider VPC
	for _, port := range d.ports[epID] {
		sp := d.listeners[listenerKey{EndpointID: epID, Port: port}]
		for _, b := range sp.cfg.Backends {
			seen[b.Addr] = sp.svcVPC
		}
	}
	addrs := slices.SortedFunc(maps.Keys(seen), func(x, y netip.AddrPort) int { return x.Compare(y) })
	if len(addrs) > model.MaxTrafficBackends {
		addrs = addrs[:model.MaxTrafficBackends]
	}
	out := make([]model.BackendCheck, 0, len(addrs))
	for _, addr := range addrs {
		h := a.healthFor(seen[addr])
		bc := model.BackendCheck{ZoneID: a.cfg.Zone, Backend: addr.String(), Healthy: h.Healthy(addr)}
		if c, ok := h.LastCheck(addr); ok {
			bc.Healthy, bc.Error = c.Healthy, c.Err
			bc.LatencyMs = float64(c.Latency.Microseconds()) / 1000
			bc.CheckTime = c.Time.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, bc)
	}
	return out
}

// healthKey is the backends' health without latencies and times: what
// makes an idle endpoint zone's report worth writing again.
func healthKey(bs []model.BackendCheck) string {
	k := ""
	for _, b := range bs {
		k += b.Backend
		if b.CheckTime == "" {
			k += "?"
		} else if b.Healthy {
			k += "+"
		} else {
			k += "-"
		}
	}
	return k
}
