// Package apiserver owns privlink's REST API under /v1: authentication by
// bearer token, request decoding and validation, idempotent creates
// (clientToken), dry runs, pagination, Alibaba-style error bodies, and the
// etcd transactions that apply each change atomically (a rejected request
// writes nothing). It is stateless: several API servers may share one etcd.
package apiserver
