package proxy

// NATDelta is what one endpoint zone's kernel NAT flows did since the last
// call (internal/agent reads it from nftables counters and conntrack).
type NATDelta struct {
	BytesIn, BytesOut uint64 // in = consumer->backend, out = backend->consumer (packet bytes, headers included)
	NewConns          uint64
	Rejects           uint64 // packets refused: security group, no healthy backend, cut connections
	Active            int    // ESTABLISHED conntrack entries now
}

// AddNAT folds an endpoint zone's kernel NAT figures into the proxy's
// metric families, so both forwarding modes show in the same series (and
// in the traffic reports): bytes into privlink_proxy_bytes_total,
// new connections into privlink_proxy_connections_total, the active ones
// into privlink_proxy_connections_active, refused packets into
// privlink_proxy_sg_drops_total.
func (m *Metrics) AddNAT(endpointID, zoneID string, d NATDelta) {
	lm := m.forListener(endpointID, zoneID)
	if lm == nil {
		return
	}
	lm.addBytes(true, int64(d.BytesIn))
	lm.addBytes(false, int64(d.BytesOut))
	lm.total.Add(float64(d.NewConns))
	if d.Rejects > 0 {
		lm.sgDrops.add(lm, float64(d.Rejects))
	}
	lm.active.Set(float64(d.Active))
}
