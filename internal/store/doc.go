// Package store owns privlink's control-plane state in etcd, and is the only
// package that talks to etcd. It starts the embedded single-node etcd (or
// connects to an external cluster; or runs one member of a cluster of
// machines, Config.Member, cluster.go) and owns:
//
//   - the door: the embedded etcd serves its client and peer listeners only
//     over TLS and only to holders of a certificate from its CA, issued
//     once in DataDir/pki by internal/pki (tls.go); its client presents
//     the generated client certificate, or for an external cluster the
//     Credentials it is given (TLS files, etcd user/password);
//   - the key layout: one helper per key kind (keys.go; the full layout is
//     in docs/architecture.md);
//   - the write protocol: Txn collects guards (Unchanged, Exists,
//     NoneUnder, Touch a parent) and writes (Create-if-absent, Claim, Put,
//     Index, Delete) that commit atomically; Create (with clientToken
//     idempotency), Update and Delete read, plan and commit-if-unchanged,
//     retrying with backoff (protocol.go);
//   - events (events.go): FollowStates (every revision's before and after,
//     nothing coalesced), the events cursor and CommitEvents guarded on it,
//     listing, watching and pruning event/ keys;
//   - leases for what must vanish with its writer: a zone agent's liveness
//     and reports (lease.go); a lease outlives an outage of etcd or of its
//     quorum: it is resumed by ID, never revoked on an error;
//   - the edge where records are decoded and validated once: a bad record
//     is skipped, logged once, counted, and never taken for a deletion
//     (records.go);
//   - the list+watch Cache of a State that controllers, agents and the
//     resolver build on (its first read fetches every kind at once at one
//     revision, each decoded by its own goroutine), and Cache.Loop, their
//     panic-safe reconcile loop;
//     a watch response copies only the maps of the kinds it changes and
//     shares the others with the previous State (cloneKinds); Changes
//     and Cache.ChangesSince (a bounded log of each response's records)
//     tell a consumer which records changed between two States
//     (changes.go, changelog.go);
//   - nodes (nodes.go; docs/design/multinode.md §2): RegisterNode (a
//     node's permanent registration and index), DeleteNode, MarkNodeNotReady,
//     AllocVNI (a VPC's VNI from the meta/vninext counter, race-free
//     between API servers), AllocIPv6CIDR (a VPC's random ULA /56,
//     unique in the region, ipv6.go), EnsureDefaultNode; State holds Nodes (ready
//     nodes), NodeRegs and Placements (ENI placements);
//   - the placement controller's writes (placement.go): PutPlacement and
//     DeletePlacement (compare-and-swap on the placement epoch, the key's
//     mod revision, which the State carries as ENIPlacement.Epoch),
//     MarkNodeReady, BackfillVNI, Campaign (etcd concurrency.Election);
//     State.ZoneStatus and ReportLive judge a placed zone by its node
//     (model.PlacedZone);
//   - the embedded etcd's backend quota (Config.QuotaBytes) and its NOSPACE
//     alarm: NoSpace recognizes the refusal, privlink_store_nospace shows
//     it (space.go); it keeps WALFilesKept WAL files (a start reads them
//     all) and logs what it read at start; Meta and SetMeta read and write
//     meta/<name> records (meta.go).
package store
