package server

import "github.com/prometheus/client_golang/prometheus"

// RegisterAgentMetrics exports how many in-process agents are synced.
func RegisterAgentMetrics(reg prometheus.Registerer, ready func() float64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "privlink_agent_synced",
		Help: "Number of zone agents in this process that completed their first sync and apply.",
	}, ready))
}

// handoffMetrics counts the agent handoffs of this process by how they
// ended: as the giver (released, resumed, refused, stopped) or the taker
// (took_over). Every result is exported from the start, at 0.
func handoffMetrics(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "privlink_agent_handoffs_total",
		Help: "Agent handoffs (--handoff-socket) of this process by result: took_over (this process took over from its predecessor), and as the running agent released, resumed (the successor went away or was late), refused (another user or protocol version, or not synced), stopped (stopped mid-handoff); under a socket keeper (--socket-keeper), from_keeper: this process took over the sockets and lease of a worker that died.",
	}, []string{"result"})
	for _, r := range []string{"took_over", "released", "resumed", "refused", "stopped", "from_keeper"} {
		c.WithLabelValues(r)
	}
	reg.MustRegister(c)
	return c
}
