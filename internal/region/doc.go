// Package region holds the fault tests of a region across machines (issue
// 12 item 7, docs/design/multinode.md §4, §6.3, §9 S7): the real privlink
// binary run on an internal/lab region (three etcd members with API
// servers, standalone node agents), under live traffic through an
// endpoint's domain (a MySQL client loop against a sampledb backend, and a
// bounded TCP echo load), with kill -9, etcd quorum loss and underlay cuts.
// The package has no code of its own beyond this comment: everything is in
// its tests. They need root and Linux, and are skipped with -short. See
// docs/multinode.md for the figures they print and how to run them longer.
package region
