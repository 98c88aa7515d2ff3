package proxy

import (
	"net/netip"
	"sync"

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

// eniSet is what SetENIs recorded per endpoint zone, so that replacing or
// forgetting them deletes exactly those series: DeletePartialMatch scans
// every series of the vector, O(endpoints) per call and O(endpoints²) over
// an agent's first round after a restart (~0.1 s at 2,000 endpoints, ~3 s
// at 10,000; docs/benchmarks.md, "Proxy restart (session 7)").
type eniSet struct {
	mu  sync.Mutex
	set map[[2]string][][2]string // {endpoint, zone} -> {family, address}s
}

// SetENIs records the ENI addresses endpointID serves in zoneID, replacing
// the ones this Metrics recorded before; Forget drops them.
func (m *Metrics) SetENIs(endpointID, zoneID string, addrs []netip.Addr) {
	if m == nil {
		return
	}
	var labels [][2]string
	for _, a := range addrs {
		fam := "ipv4"
		if a.Unmap().Is6() {
			fam = "ipv6"
		}
		labels = append(labels, [2]string{fam, a.Unmap().String()})
	}
	k := [2]string{endpointID, zoneID}
	m.enis.mu.Lock()
	defer m.enis.mu.Unlock()
	for _, l := range m.enis.set[k] {
		m.eniInfo.DeleteLabelValues(endpointID, zoneID, l[0], l[1])
	}
	for _, l := range labels {
		m.eniInfo.WithLabelValues(endpointID, zoneID, l[0], l[1]).Set(1)
	}
	if m.enis.set == nil {
		m.enis.set = map[[2]string][][2]string{}
	}
	if len(labels) == 0 {
		delete(m.enis.set, k)
		return
	}
	m.enis.set[k] = labels
}

func (m *Metrics) forgetENIs(endpointID, zoneID string) {
	k := [2]string{endpointID, zoneID}
	m.enis.mu.Lock()
	defer m.enis.mu.Unlock()
	for _, l := range m.enis.set[k] {
		m.eniInfo.DeleteLabelValues(endpointID, zoneID, l[0], l[1])
	}
	delete(m.enis.set, k)
}
