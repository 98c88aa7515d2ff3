// Package invariant states what must hold of a privlink deployment at
// every moment, as checks that tests run against real parts: the store's
// records against each other (Snapshot.Check: no Connected endpoint of an
// account the service does not admit, no address handed out twice or held
// by no record, no record whose parent is gone, a service with load
// balancers has their ports and backends) and the machine against the
// store (Want.Diff: every namespace, bridge and ENI the zone agents should
// have, and nothing else with the prefix; Want.Traffic: every host reaches
// its VPC's resolver, every endpoint that must carry traffic does and no
// other one). The crash-restart test and the
// randomized invariant checker share it. Every check returns the list of
// violations, each a sentence naming the objects; empty means it holds.
package invariant
