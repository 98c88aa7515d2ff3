package model

import (
	"errors"
	"fmt"
	"time"
)

// Traffic windows: the hour at 1-minute and the day at 10-minute
// resolution (what a zone agent keeps per endpoint zone and the API serves).
const (
	TrafficHourStep   = 60  // seconds
	TrafficHourPoints = 60  // one hour
	TrafficDayStep    = 600 // seconds
	TrafficDayPoints  = 144 // one day
	// MaxTrafficBackends bounds the backend checks in one traffic report.
	MaxTrafficBackends = 256
)

// TrafficSeries is one window of traffic aggregates, column by column:
// point i covers [start + i*step, start + (i+1)*step). ActiveConnections is
// the most connections open at once the agent sampled in the interval; the
// others are counts in the interval. Rejected connections are split by
// reason: the security group refused the source (RejectedSecurityGroup), a
// limit refused it (RejectedLimit: the endpoint's connection or rate
// limit, the descriptor budget), or the security group stopped allowing a
// live connection (RejectedRevoked).
type TrafficSeries struct {
	Start                 string  `json:"start"` // RFC 3339, UTC
	StepSeconds           int     `json:"stepSeconds"`
	ActiveConnections     []int64 `json:"activeConnections"`
	NewConnections        []int64 `json:"newConnections"`
	BytesIn               []int64 `json:"bytesIn"`  // consumer -> backend
	BytesOut              []int64 `json:"bytesOut"` // backend -> consumer
	RejectedSecurityGroup []int64 `json:"rejectedSecurityGroup"`
	RejectedLimit         []int64 `json:"rejectedLimit"`
	RejectedRevoked       []int64 `json:"rejectedRevoked"`
}

// Columns returns the series' columns in a fixed order (for loops).
func (s *TrafficSeries) Columns() []*[]int64 {
	return []*[]int64{&s.ActiveConnections, &s.NewConnections, &s.BytesIn, &s.BytesOut,
		&s.RejectedSecurityGroup, &s.RejectedLimit, &s.RejectedRevoked}
}

// Len is the number of points.
func (s *TrafficSeries) Len() int { return len(s.ActiveConnections) }

// BackendCheck is the last health check of one backend as made from one zone.
type BackendCheck struct {
	ZoneID    string  `json:"zoneId"`
	Backend   string  `json:"backend"` // ip:port
	Healthy   bool    `json:"healthy"`
	LatencyMs float64 `json:"latencyMs"` // TCP connect time of the last check
	CheckTime string  `json:"checkTime"` // RFC 3339; empty: not checked yet
	Error     string  `json:"error,omitempty"`
}

// TrafficReport is what a zone agent writes (under its lease) for each
// endpoint zone it serves, about once a minute: its traffic windows and the
// last check of each backend.
type TrafficReport struct {
	EndpointID string         `json:"endpointId"`
	ZoneID     string         `json:"zoneId"`
	UpdateTime string         `json:"updateTime"` // RFC 3339
	Hour       TrafficSeries  `json:"hour"`
	Day        TrafficSeries  `json:"day"`
	Backends   []BackendCheck `json:"backends,omitempty"`
}

// Validate checks a traffic report's shape and bounds.
func (r *TrafficReport) Validate() error {
	return errors.Join(id(PrefixEndpoint, r.EndpointID), nonEmpty("zoneId", r.ZoneID),
		r.Hour.validate("hour", TrafficHourStep, TrafficHourPoints), r.Day.validate("day", TrafficDayStep, TrafficDayPoints),
		boundedLen("backends", len(r.Backends), MaxTrafficBackends))
}

func (s *TrafficSeries) validate(name string, step, points int) error {
	if s.StepSeconds != step {
		return fmt.Errorf("%s: stepSeconds %d, want %d", name, s.StepSeconds, step)
	}
	if _, err := time.Parse(time.RFC3339, s.Start); err != nil {
		return fmt.Errorf("%s: start: %w", name, err)
	}
	n := s.Len()
	if n > points {
		return fmt.Errorf("%s: %d points, at most %d", name, n, points)
	}
	for _, c := range s.Columns() {
		if len(*c) != n {
			return fmt.Errorf("%s: columns of different lengths", name)
		}
	}
	return nil
}

func boundedLen(field string, n, max int) error {
	if n > max {
		return fmt.Errorf("%s: %d entries, at most %d", field, n, max)
	}
	return nil
}
