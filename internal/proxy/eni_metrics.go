package proxy

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
)

// ENI address metrics: privlink_endpoint_eni_info{endpoint_id, zone_id,
// family, address} is 1 for each ENI address an endpoint zone serves here
// (its IPv4 one and, for a dual-stack zone, its IPv6 one), so dashboards
// can join the traffic series with the addresses consumers connect to.

const labelFamily, labelAddress = "family", "address"

func newENIInfo(reg prometheus.Registerer) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "privlink_endpoint_eni_info",
		Help: "1 for each ENI address an endpoint zone serves on this node; family ipv4 or ipv6.",
	}, []string{labelEndpoint, labelZone, labelFamily, labelAddress})
	if reg != nil {
		g = register(reg, g)
	}
	return g
}

// SetENIs records the ENI addresses endpointID serves in zoneID, replacing
// the ones recorded before; Forget drops them.
func (m *Metrics) SetENIs(endpointID, zoneID string, addrs []netip.Addr) {
	if m == nil {
		return
	}
	m.eniInfo.DeletePartialMatch(prometheus.Labels{labelEndpoint: endpointID, labelZone: zoneID})
	for _, a := range addrs {
		fam := "ipv4"
		if a.Unmap().Is6() {
			fam = "ipv6"
		}
		m.eniInfo.WithLabelValues(endpointID, zoneID, fam, a.Unmap().String()).Set(1)
	}
}

func (m *Metrics) forgetENIs(endpointID, zoneID string) {
	m.eniInfo.DeletePartialMatch(prometheus.Labels{labelEndpoint: endpointID, labelZone: zoneID})
}
