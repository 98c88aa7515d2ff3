// Package proxy is the data plane of privlink: a TCP proxy that terminates
// consumer connections on an endpoint address (an ENI IP:port), checks them
// against the endpoint's security group, picks a healthy backend of the
// provider service and copies bytes in both directions.
//
// The hot path is built for throughput and connection rate:
//
//   - Bytes are moved with splice(2) (io.Copy between two *net.TCPConn goes
//     through (*net.TCPConn).ReadFrom, which splices through a pipe), so
//     payload never enters user space. An optional PROXY protocol v2 header is
//     written with one write before splicing starts.
//   - Each proxied connection occupies two goroutines: the connection
//     goroutine dials and then copies consumer->backend itself, one more
//     goroutine copies backend->consumer. Both come from a per-Listener pool
//     of reusable goroutines (idle ones exit after 10s or on Close), which
//     saves goroutine creation and stack growth per connection.
//   - The security-group check runs on the accept goroutine, so rejected
//     connections never cost a goroutine.
//   - Idle timeouts and live byte counters are driven by one coarse sweeper
//     goroutine per Listener that reads TCP_INFO of the consumer socket; the
//     copy goroutines never touch timers or deadlines.
//   - ListenConfig and Dial are the recommended way to create the listener
//     and the backend connections (keepalive without per-connection
//     syscalls where possible).
//   - A user-space copy (with a token bucket) is used only when a per
//     connection bandwidth cap is configured, or when a net.Conn is not a
//     *net.TCPConn.
//
// See README.md in this directory for the behaviour in detail.
package proxy
