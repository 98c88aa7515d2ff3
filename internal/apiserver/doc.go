// Package apiserver owns privlink's REST API under /v1: authentication by
// bearer token, strict decoding of the api package's request types,
// validation against the state, idempotent creates (clientToken), dry runs,
// pagination, Alibaba-style error bodies, and the plans (store.Txn guards
// and writes) that apply each change atomically through the store's write
// protocol, so a rejected request writes nothing. It is stateless: several
// API servers may share one etcd. Only the process assembly
// (internal/server) builds it; everyone else goes through internal/client.
// See README.md.
package apiserver
