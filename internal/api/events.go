package api

// MaxEventStreams is how many event streams (ListEvents with follow=true)
// one account may hold open at once on one server; each holds an etcd
// watch. One more is 429 Throttling.EventStreams.
const MaxEventStreams = 8
