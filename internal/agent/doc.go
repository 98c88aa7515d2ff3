// Package agent owns the zone agent: it lists and watches the control-plane
// state, computes the desired data plane of its zone (VPC namespaces,
// vSwitch bridges, hosts, endpoint ENIs and one proxy listener per endpoint
// zone and service port), applies it as a diff, and reports per-zone status
// and liveness to etcd under a lease. It keeps serving the last known state
// while etcd is unreachable. With Config.Node it is instead one node of a
// region across machines (node.go): it serves what the store places on the
// node and joins its VPC copies to other nodes' over VXLAN (package overlay).
package agent
