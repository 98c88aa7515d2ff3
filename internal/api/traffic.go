package api

import "github.com/privlink/privlink/internal/model"

// Traffic wire types: windows of per-interval aggregates (see
// model.TrafficSeries) and the last backend checks, from the zone agents'
// traffic reports.
type (
	TrafficSeries = model.TrafficSeries
	BackendCheck  = model.BackendCheck
)

// MaxTrafficEndpoints bounds the endpoints a service's traffic lists (the
// first by endpoint ID; Truncated says there are more).
const MaxTrafficEndpoints = 100

// ZoneTraffic is one endpoint zone's traffic as its zone agent reported it.
type ZoneTraffic struct {
	ZoneID string `json:"zoneId"`
	// UpdateTime is when the agent wrote it (empty: no live report).
	UpdateTime string         `json:"updateTime"`
	Hour       TrafficSeries  `json:"hour"`
	Day        TrafficSeries  `json:"day"`
	Backends   []BackendCheck `json:"backends"`
}

// EndpointTraffic is an endpoint's traffic over the last hour (1-minute
// points) and day (10-minute points), summed over its zones, ending with
// the current interval.
type EndpointTraffic struct {
	EndpointID       string        `json:"endpointId"`
	EndpointName     string        `json:"endpointName"`
	AccountID        string        `json:"accountId"`
	ServiceID        string        `json:"serviceId"`
	ConnectionStatus string        `json:"connectionStatus"`
	UpdateTime       string        `json:"updateTime"` // the newest zone report's
	Hour             TrafficSeries `json:"hour"`
	Day              TrafficSeries `json:"day"`
	// Zones is per zone of the endpoint (GET /v1/endpoints/{id}/traffic
	// only; a service's traffic leaves it out).
	Zones []ZoneTraffic `json:"zones,omitempty"`
}

// ServiceTraffic is a service's traffic: the sum over its endpoints, each
// endpoint's own, and the last check of each backend from each zone.
type ServiceTraffic struct {
	ServiceID string            `json:"serviceId"`
	Hour      TrafficSeries     `json:"hour"`
	Day       TrafficSeries     `json:"day"`
	Endpoints []EndpointTraffic `json:"endpoints"`
	Truncated bool              `json:"truncated"`
	// Backends is one entry per backend and zone: the newest check made
	// from that zone, or, for a backend no agent checks (no endpoint is
	// served in its zone), an entry without checkTime.
	Backends []BackendCheck `json:"backends"`
}
