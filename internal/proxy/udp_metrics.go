package proxy

import (
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"
)

// UDP drop reasons (the reason label of privlink_proxy_udp_drops_total).
const (
	udpDropBandwidth = iota // the endpoint's bandwidth cap
	udpDropFlowLimit        // the listener's flow limit
	udpDropNoBackend        // no backend socket could be opened
	udpDropSendError        // sending failed (backend unreachable, buffers full)
	nUDPDrops
)

var udpDropReasons = [nUDPDrops]string{"bandwidth", "flow_limit", "no_backend", "send_error"}

// udpMetricVecs are the UDP-only collectors; flows count in
// privlink_proxy_connections_{active,total} and payload in
// privlink_proxy_bytes_total like TCP connections.
type udpMetricVecs struct {
	datagrams *prometheus.CounterVec
	drops     *prometheus.CounterVec
}

func newUDPMetricVecs(reg prometheus.Registerer) udpMetricVecs {
	v := udpMetricVecs{
		datagrams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "privlink_proxy_udp_datagrams_total",
			Help: "UDP datagrams proxied; direction in = consumer->backend, out = backend->consumer.",
		}, []string{labelEndpoint, labelZone, labelDirection}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "privlink_proxy_udp_drops_total",
			Help: "UDP datagrams dropped, by reason: bandwidth (the endpoint's cap), flow_limit (flows per listener), " +
				"no_backend (no backend socket), send_error (sending failed). Security-group drops count in privlink_proxy_sg_drops_total.",
		}, []string{labelEndpoint, labelZone, labelReason}),
	}
	if reg != nil {
		v.datagrams = register(reg, v.datagrams)
		v.drops = register(reg, v.drops)
	}
	return v
}

func (v udpMetricVecs) forget(endpointID, zoneID string) {
	if v.datagrams == nil {
		return
	}
	v.datagrams.DeleteLabelValues(endpointID, zoneID, "in")
	v.datagrams.DeleteLabelValues(endpointID, zoneID, "out")
	for _, r := range udpDropReasons {
		v.drops.DeleteLabelValues(endpointID, zoneID, r)
	}
}

// udpMetrics are the children of one endpoint zone; nil records nothing.
type udpMetrics struct {
	in, out prometheus.Counter
	drops   [nUDPDrops]prometheus.Counter
}

func (m *Metrics) forUDP(endpointID, zoneID string) *udpMetrics {
	if m == nil || m.udp.datagrams == nil {
		return nil
	}
	u := &udpMetrics{
		in:  m.udp.datagrams.WithLabelValues(endpointID, zoneID, "in"),
		out: m.udp.datagrams.WithLabelValues(endpointID, zoneID, "out"),
	}
	for i, r := range udpDropReasons {
		u.drops[i] = m.udp.drops.WithLabelValues(endpointID, zoneID, r)
	}
	return u
}

func (u *udpMetrics) datagram(in bool) {
	if u == nil {
		return
	}
	if in {
		u.in.Inc()
	} else {
		u.out.Inc()
	}
}

func (u *udpMetrics) drop(reason int) {
	if u != nil {
		u.drops[reason].Inc()
	}
}

// UDPCounts reads an endpoint zone's UDP datagram and drop counts (tests,
// the console).
func (m *Metrics) UDPCounts(endpointID, zoneID string) (in, out int64, drops map[string]int64) {
	u := m.forUDP(endpointID, zoneID)
	if u == nil {
		return 0, 0, nil
	}
	drops = map[string]int64{}
	for i, r := range udpDropReasons {
		drops[r] = value(u.drops[i])
	}
	return value(u.in), value(u.out), drops
}

// appendProxyHeaderDgram is appendProxyHeader with the transport byte
// saying DGRAM (UDP over IPv4, or IPv6): the header AWS's NLB puts in
// front of the first datagram of a flow.
func appendProxyHeaderDgram(b []byte, src, dst netip.AddrPort, tlvs []byte) []byte {
	start := len(b)
	b = appendProxyHeader(b, src, dst, tlvs)
	if b[start+13] == ppTCP4 {
		b[start+13] = byte(proxyproto.UDPv4)
	} else {
		b[start+13] = byte(proxyproto.UDPv6)
	}
	return b
}
