// Package events turns changes of privlink's state into events that
// providers and consumers can read (GET /v1/events) and subscribe to.
//
// The Controller follows the store revision by revision
// (store.FollowStates: nothing coalesced, so every server sees the same
// transitions), derives the events of each revision with Diff, and writes
// them together with a cursor (meta/events-cursor) in one transaction
// guarded on the cursor being before that revision. So several servers
// running the controller write each event exactly once, and a restarted
// server resumes after the last revision written: nothing lost, nothing
// repeated (unless etcd compacted the revisions in between, which is
// logged). The controller also prunes events by count and age.
package events
