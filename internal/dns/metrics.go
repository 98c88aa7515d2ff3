package dns

import (
	"errors"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors. They always exist (so the
// query path never checks for nil) and are registered only when a
// Registerer is configured.
type metrics struct {
	queries       *prometheus.CounterVec
	forwardErrors *prometheus.CounterVec
	revision      prometheus.Gauge
	age           prometheus.GaugeFunc

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer, age func() float64) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "privlink_dns_queries_total",
			Help: "DNS queries answered, by query type and response code.",
		}, []string{"qtype", "rcode"}),
		forwardErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "privlink_dns_forward_errors_total",
			Help: "Failed exchanges with upstream resolvers (timeouts, network errors, bad answers).",
		}, []string{"upstream"}),
		revision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "privlink_dns_snapshot_revision",
			Help: "Store revision of the snapshot being served (0 before the first snapshot).",
		}),
		age: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "privlink_dns_snapshot_age_seconds",
			Help: "Seconds since the last snapshot was installed (since start if none yet).",
		}, age),
		reg: reg,
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.queries, m.forwardErrors, m.revision, m.age} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("privlink_dns metrics already registered (one Server per Registerer)")
			}
			return nil, err
		}
		m.registered = append(m.registered, c)
	}
	return m, nil
}

func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

// observe counts one answered query. hasQ is false for queries without
// exactly one question.
func (m *metrics) observe(qtype uint16, hasQ bool, rcode int) {
	ql := "none"
	if hasQ {
		ql = qtypeLabel(qtype)
	}
	m.queries.WithLabelValues(ql, rcodeLabel(rcode)).Inc()
}

// qtypeLabel keeps label cardinality bounded: known types by name, the rest
// as "other".
func qtypeLabel(t uint16) string {
	if s, ok := mdns.TypeToString[t]; ok {
		return s
	}
	return "other"
}

func rcodeLabel(rc int) string {
	if s, ok := mdns.RcodeToString[rc]; ok {
		return s
	}
	return "other"
}
