// Package store owns privlink's control-plane state in etcd: it starts the
// embedded single-node etcd (or connects to an external cluster), lays out the
// keys, gives typed get/list and compare-and-swap access, and keeps a
// list+watch cache (State) that the controllers, agents and DNS build on.
package store
