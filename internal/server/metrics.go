package server

import "github.com/prometheus/client_golang/prometheus"

// RegisterAgentMetrics exports how many in-process agents are synced.
func RegisterAgentMetrics(reg prometheus.Registerer, ready func() float64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "privlink_agent_synced",
		Help: "Number of zone agents in this process that completed their first sync and apply.",
	}, ready))
}
