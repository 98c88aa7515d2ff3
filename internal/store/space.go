package store

import (
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// etcd's backend quota: when its database reaches --quota-backend-bytes
// (the embedded etcd: Config.QuotaBytes, default DefaultQuotaBytes) etcd
// raises the NOSPACE alarm and refuses every write that adds data until an
// operator compacts, defragments and disarms it; reads and deletes go on.

// DefaultQuotaBytes is the embedded etcd's backend quota, etcd's own
// default (2 GiB).
const DefaultQuotaBytes int64 = 2 << 30

// MaxQuotaBytes is the largest backend quota etcd recommends (8 GiB).
const MaxQuotaBytes int64 = 8 << 30

// NoSpace reports whether err is etcd's NOSPACE alarm ("mvcc: database
// space exceeded"): nothing was written, and nothing will be until an
// operator frees space and disarms the alarm.
func NoSpace(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, rpctypes.ErrNoSpace) || errors.Is(err, rpctypes.ErrGRPCNoSpace) ||
		strings.Contains(err.Error(), "database space exceeded")
}

// spaceGauge is privlink_store_nospace: 1 since a write was refused for
// NOSPACE, 0 again after a write succeeds.
func newSpaceGauge() prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "privlink_store_nospace",
		Help: "1 while etcd refuses writes for its NOSPACE alarm (backend quota reached: compact, defragment, disarm), else 0; set by each write.",
	})
}

// wrote records a write's outcome in the NOSPACE gauge.
func (s *Store) wrote(err error) {
	switch {
	case err == nil:
		s.nospace.Set(0)
	case NoSpace(err):
		s.nospace.Set(1)
	}
}
