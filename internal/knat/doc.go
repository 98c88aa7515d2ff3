// Package knat is privlink's kernel forwarding building block: it links a
// consumer VPC router namespace and a provider VPC router namespace with a
// veth pair addressed from a reserved range, and programs endpoint flows
// into both with nftables (DNAT of ENI:port to the provider side, SNAT to a
// per-endpoint source, DNAT to a backend chosen in the kernel) and conntrack
// (cutting live connections on revocation). No userspace process sits in the
// data path. See README.md for the rules and what is tested.
//
// The zone agent (internal/agent, nat.go) drives a Pair per (consumer VPC,
// provider VPC) for services with forwarding nat, through Open, Apply,
// Stats, Close and Sweep (docs/forwarding.md).
package knat
