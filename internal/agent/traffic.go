package agent

import (
	"context"
	"maps"
	"net/netip"
	"slices"
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
	lastWrite time.Time
	// written: the endpoint zones with a traffic key, and whether the last
	// one written was idle (all zero, every backend as in idleHealth);
	// nil after a fresh lease.
	written    map[string]bool
	idleHealth map[string]string
	// lastSample: when the counters were last read into the rings. The
	// agent reconciles after every change; reading every endpoint's
	// counters each time cost 6% of the server's CPU while 1,000
	// endpoints were being created (docs/benchmarks.md, scale), and the
	// rings' finest interval is a minute.
	lastSample time.Time
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
		ts.idleHealth = map[string]string{}
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
		r.Add(now, traffic.Sample{Active: c.Active, Conns: c.Conns, BytesIn: c.BytesIn, BytesOut: c.BytesOut,
			RejectedSG: c.SGDrops, RejectedLimit: c.Limited, RejRevoke: c.Revoked})
	}
	for epID := range ts.rings {
		if _, ok := d.zones[epID]; !ok {
			delete(ts.rings, epID)
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
	written := map[string]bool{}
	health := map[string]string{}
	for epID, r := range ts.rings {
		rep := model.TrafficReport{EndpointID: epID, ZoneID: a.cfg.Zone, UpdateTime: now.UTC().Format(time.RFC3339)}
		rep.Hour, rep.Day = r.Series(now)
		rep.Backends = a.backendChecks(d, epID)
		idle := traffic.Total(rep.Day.ActiveConnections) == 0 && traffic.Total(rep.Day.NewConnections) == 0 &&
			traffic.Total(rep.Day.RejectedSecurityGroup)+traffic.Total(rep.Day.RejectedLimit)+traffic.Total(rep.Day.RejectedRevoked) == 0
		health[epID] = healthKey(rep.Backends)
		written[epID] = idle
		if wasIdle, ok := ts.written[epID]; ok && wasIdle && idle && ts.idleHealth[epID] == health[epID] {
			continue
		}
		writes[st.TrafficKey(a.cfg.Zone, epID)] = rep
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := a.lease.Write(cctx, writes); err != nil {
		return err
	}
	ts.written, ts.idleHealth, ts.lastWrite = written, health, now
	return nil
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
