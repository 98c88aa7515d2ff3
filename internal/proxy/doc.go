// Package proxy is the data plane of privlink: a TCP proxy that terminates
// consumer connections on an endpoint address (an ENI IP:port), checks them
// against the endpoint's security group, picks a healthy backend of the
// provider service and copies bytes in both directions.
//
// On Linux, a Listener given WithSockets runs on the event-loop engine
// (engine_linux.go): one epoll loop per CPU shared by every Listener of the
// process, non-blocking system calls, no goroutine per connection. Small
// messages are copied through a per-loop buffer taken only while bytes are
// in flight; once a read fills it, the direction switches to splice(2)
// through a pooled pipe, so bulk payload never enters user space. Idle
// timeouts, backend connect timeouts and live byte counts are driven by each
// loop's periodic sweep.
//
// Elsewhere (or without WithSockets) each connection runs on two pooled
// goroutines with (*net.TCPConn).ReadFrom for splicing and a sweeper
// goroutine per Listener reading TCP_INFO.
//
// Both paths share the compiled config (config.go), backend choice
// (backend.go), health checks (health.go), PROXY protocol v2 encoding
// (proxyproto.go) and metrics (metrics.go). See README.md in this
// directory for the behaviour in detail.
package proxy
