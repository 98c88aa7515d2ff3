package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Counters is one reading of an endpoint zone's proxy metrics (the series
// of Metrics): the active gauge and cumulative counts.
type Counters struct {
	Active   int64
	Conns    int64 // admitted
	BytesIn  int64 // consumer -> backend
	BytesOut int64 // backend -> consumer
	SGDrops  int64 // refused by the security group
	Limited  int64 // refused by a limit: conn_limit, rate_limit, fd_budget
	Revoked  int64 // reset: the security group no longer allows it
}

// Read returns the current values of an endpoint zone's series (zero for
// a nil *Metrics). It makes the series if they do not exist, so call it
// for endpoint zones being served only (Forget drops them again).
func (m *Metrics) Read(endpointID, zoneID string) Counters {
	if m == nil {
		return Counters{}
	}
	lm := m.forListener(endpointID, zoneID)
	c := Counters{
		Active:   value(lm.active),
		Conns:    value(lm.total),
		BytesIn:  value(lm.bytesIn),
		BytesOut: value(lm.bytesOut),
		SGDrops:  lm.sgDrops.value(),
		Revoked:  lm.rejected[revokedSG].value(),
	}
	for _, v := range []verdict{refusedConnLimit, refusedRateLimit, refusedFDBudget} {
		c.Limited += lm.rejected[v].value()
	}
	return c
}

func value(m prometheus.Metric) int64 {
	var d dto.Metric
	if m == nil || m.Write(&d) != nil {
		return 0
	}
	switch {
	case d.Gauge != nil:
		return int64(d.Gauge.GetValue())
	case d.Counter != nil:
		return int64(d.Counter.GetValue())
	}
	return 0
}
