// Package traffic keeps and combines per-endpoint traffic aggregates: a Ring
// per endpoint zone, fed by a zone agent with the proxy's cumulative
// counters, holds the last hour at 1-minute and the last day at 10-minute
// resolution (model.TrafficSeries); Window re-aligns series of several
// zones or endpoints onto one time axis ending now and sums them, which is
// what the API serves. Nothing here reads the store or the proxy.
package traffic
