package proxy

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric label names.
const (
	labelEndpoint  = "endpoint_id"
	labelZone      = "zone_id"
	labelDirection = "direction"
	labelReason    = "reason"
)

// Metrics holds the Prometheus collectors of the proxy. All series are
// labelled by endpoint_id and zone_id; bytes are additionally labelled by
// direction ("in" = consumer->backend, "out" = backend->consumer).
//
// A nil *Metrics is valid and records nothing.
type Metrics struct {
	active       *prometheus.GaugeVec
	total        *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	sgDrops      *prometheus.CounterVec
	dialFailures *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	udp          udpMetricVecs
	eniInfo      *prometheus.GaugeVec // eni_metrics.go
	enis         eniSet               // the eniInfo series set, by endpoint zone

	// children: forListener's resolved series by endpoint zone, until
	// Forget. The agent reads every served endpoint zone's counters each
	// second (and adds the NAT flows' figures): 11 label lookups each were
	// ~10 ms a thousand endpoint zones (BenchmarkReadMany).
	mu       sync.Mutex
	children map[[2]string]*listenerMetrics
}

// NewMetrics creates the proxy collectors and registers them with reg (which
// may be nil to skip registration). If collectors with the same description
// are already registered with reg, those are reused, so several NewMetrics
// calls against one registry share the same series.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	lbl := []string{labelEndpoint, labelZone}
	m := &Metrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "privlink_proxy_connections_active",
			Help: "Proxied connections currently open (including those still dialing a backend).",
		}, lbl),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "privlink_proxy_connections_total",
			Help: "Connections accepted and admitted by the security group.",
		}, lbl),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "privlink_proxy_bytes_total",
			Help: "Payload bytes proxied; direction in = consumer->backend, out = backend->consumer.",
		}, []string{labelEndpoint, labelZone, labelDirection}),
		sgDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "privlink_proxy_sg_drops_total",
			Help: "Connections reset because the security group rejected the source.",
		}, lbl),
		dialFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "privlink_proxy_backend_dial_failures_total",
			Help: "Failed backend dial attempts.",
		}, lbl),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "privlink_proxy_rejected_total",
			Help: "Connections reset by a limit or a policy change, by reason: conn_limit (the endpoint's concurrent connections), " +
				"rate_limit (its new connections per second), fd_budget (the data plane's descriptor budget or the endpoint's share of it), " +
				"sg_revoked (a live connection the security group no longer allows).",
		}, []string{labelEndpoint, labelZone, labelReason}),
	}
	if reg != nil {
		m.active = register(reg, m.active)
		m.total = register(reg, m.total)
		m.bytes = register(reg, m.bytes)
		m.sgDrops = register(reg, m.sgDrops)
		m.dialFailures = register(reg, m.dialFailures)
		m.rejected = register(reg, m.rejected)
	}
	m.udp = newUDPMetricVecs(reg)
	m.eniInfo = newENIInfo(reg)
	return m
}

// register registers c, returning the already registered collector of the
// same type if there is one. Any other registration error is a programming
// error (conflicting metric definitions) and panics like MustRegister.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

// listenerMetrics holds the collector children of one (endpoint, zone) label
// pair, resolved once per config so the hot path does no label lookups. A nil
// *listenerMetrics records nothing.
type listenerMetrics struct {
	active       prometheus.Gauge
	total        prometheus.Counter
	bytesIn      prometheus.Counter
	bytesOut     prometheus.Counter
	sgDrops      lazyCounter
	dialFailures lazyCounter
	rejected     [nVerdicts]lazyCounter // by verdict; admitted unused
	forgotten    atomic.Bool            // Forget ran: lazy series are no longer made
}

// lazyCounter is a counter child made at its first use. Most endpoint
// zones never drop, fail a dial or reject a connection, and making those
// 7 of their 11 series up front was most of the metrics' part of opening
// 10,000 listeners (0.46 s of the agent's 3 CPU-seconds to /readyz) and of
// reading them every second. Until then the series is absent from
// /metrics and reads as 0.
type lazyCounter struct {
	vec    *prometheus.CounterVec
	labels [3]string // endpoint, zone and, for rejected, the reason
	n      int       // labels used
	c      atomic.Pointer[prometheus.Counter]
}

func (l *lazyCounter) add(lm *listenerMetrics, v float64) {
	c := l.c.Load()
	if c == nil {
		if lm.forgotten.Load() {
			return // a late event of a listener Forget dropped: no series again
		}
		made := l.vec.WithLabelValues(l.labels[:l.n]...) // the same child for concurrent callers
		if lm.forgotten.Load() {
			l.vec.DeleteLabelValues(l.labels[:l.n]...) // Forget ran meanwhile
			return
		}
		l.c.Store(&made)
		c = &made
	}
	(*c).Add(v)
}

func (l *lazyCounter) value() int64 {
	if c := l.c.Load(); c != nil {
		return value(*c)
	}
	return 0
}

// Forget drops the series of an endpoint zone that is no longer served, so
// label sets do not grow without bound as endpoints come and go.
func (m *Metrics) Forget(endpointID, zoneID string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	k := [2]string{endpointID, zoneID}
	if lm := m.children[k]; lm != nil {
		lm.forgotten.Store(true)
	}
	delete(m.children, k)
	m.mu.Unlock()
	for _, v := range []*prometheus.MetricVec{m.active.MetricVec, m.total.MetricVec, m.sgDrops.MetricVec, m.dialFailures.MetricVec} {
		v.DeleteLabelValues(endpointID, zoneID)
	}
	for _, r := range reasons[1:] {
		m.rejected.DeleteLabelValues(endpointID, zoneID, r)
	}
	m.bytes.DeleteLabelValues(endpointID, zoneID, "in")
	m.bytes.DeleteLabelValues(endpointID, zoneID, "out")
	m.udp.forget(endpointID, zoneID)
	m.forgetENIs(endpointID, zoneID)
}

func (m *Metrics) forListener(endpointID, zoneID string) *listenerMetrics {
	if m == nil {
		return nil
	}
	k := [2]string{endpointID, zoneID}
	m.mu.Lock()
	defer m.mu.Unlock()
	if lm := m.children[k]; lm != nil {
		return lm
	}
	lm := &listenerMetrics{
		active:       m.active.WithLabelValues(endpointID, zoneID),
		total:        m.total.WithLabelValues(endpointID, zoneID),
		bytesIn:      m.bytes.WithLabelValues(endpointID, zoneID, "in"),
		bytesOut:     m.bytes.WithLabelValues(endpointID, zoneID, "out"),
		sgDrops:      lazyCounter{vec: m.sgDrops, labels: [3]string{endpointID, zoneID}, n: 2},
		dialFailures: lazyCounter{vec: m.dialFailures, labels: [3]string{endpointID, zoneID}, n: 2},
	}
	for v := admitted + 1; v < nVerdicts; v++ {
		lm.rejected[v] = lazyCounter{vec: m.rejected, labels: [3]string{endpointID, zoneID, reasons[v]}, n: 3}
	}
	if m.children == nil {
		m.children = map[[2]string]*listenerMetrics{}
	}
	m.children[k] = lm
	return lm
}

// reject counts a connection reset for verdict v.
func (m *listenerMetrics) reject(v verdict) {
	if m != nil && v > admitted && v < nVerdicts {
		m.rejected[v].add(m, 1)
	}
}

func (m *listenerMetrics) connOpened() {
	if m != nil {
		m.total.Inc()
		m.active.Inc()
	}
}

func (m *listenerMetrics) connClosed() {
	if m != nil {
		m.active.Dec()
	}
}

func (m *listenerMetrics) sgDrop() {
	if m != nil {
		m.sgDrops.add(m, 1)
	}
}

func (m *listenerMetrics) dialFailure() {
	if m != nil {
		m.dialFailures.add(m, 1)
	}
}

func (m *listenerMetrics) addBytes(in bool, n int64) {
	if m == nil || n <= 0 {
		return
	}
	if in {
		m.bytesIn.Add(float64(n))
	} else {
		m.bytesOut.Add(float64(n))
	}
}
