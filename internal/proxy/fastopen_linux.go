//go:build linux

package proxy

import (
	"os"

	"golang.org/x/sys/unix"
)

// fastOpen: the first bytes of a flow (the PROXY header and whatever the
// consumer has sent by the time its connection is accepted) go to the
// backend with the SYN, by TCP Fast Open, where the backend allows it.
// $PRIVLINK_PROXY_FASTOPEN=0 turns it off (for measurements).
//
// The flow reads its consumer socket once before registering it (flow.
// prepare): with data there, the read replaces the one the first epoll
// event would have triggered; without, it costs one read(2) that returns
// EAGAIN (a server-speaks-first protocol, or a client slower than the
// accept), so a Listener reads first only while at least one such read in
// four finds data (firstBytes, learnt over its last ~1,000 connections;
// one connection in 32 keeps probing). The connect is then
// sendmsg(MSG_FASTOPEN) instead of connect(2), which has connect's
// semantics for a non-blocking socket (EINPROGRESS, then EPOLLOUT or
// EPOLLERR), so dial timeouts and the retry on another backend work
// unchanged:
//
//   - the kernel holds a Fast Open cookie for the backend: the bytes ride
//     in the SYN, sendmsg returns their count; the kernel retransmits them
//     after the handshake if the backend drops SYN data;
//   - no cookie yet (the first connection to a backend, or a backend without
//     Fast Open): the SYN asks for a cookie, sendmsg returns EINPROGRESS
//     and the bytes leave after the handshake as before;
//   - Fast Open disabled for clients in the provider's namespace
//     (net.ipv4.tcp_fastopen without bit 1): plain connect(2).
//
// The bytes handed over with the SYN stay in the flow's buffer (f.inSYN)
// until the connection is established, so a failed connect retries the
// next backend with them.
//
// TCP_FASTOPEN_CONNECT (connect returns at once, the SYN leaves with the
// first write) is not used: it reports a refused or unreachable backend
// only on a later write or read, where the flow can no longer tell a
// failed dial (retry another backend) from a broken connection, and it
// sends no SYN at all until there is something to write, which a
// server-speaks-first protocol never does.
var fastOpen = os.Getenv("PRIVLINK_PROXY_FASTOPEN") != "0"

// connectFast starts a non-blocking connect of fd to sa, carrying the
// flow's pending consumer bytes in the SYN when it can (see fastOpen).
func (f *flow) connectFast(fd int, sa unix.Sockaddr) error {
	h := &f.in
	if !fastOpen || h.buf == nil || h.n == h.off {
		return unix.Connect(fd, sa)
	}
	n, err := unix.SendmsgN(fd, (*h.buf)[h.off:h.n], nil, sa, unix.MSG_FASTOPEN)
	switch err {
	case nil:
		f.inSYN = n
		return unix.EINPROGRESS
	case unix.EOPNOTSUPP:
		return unix.Connect(fd, sa)
	}
	return err
}

// synSent accounts, once the backend connection is established, for the
// bytes the kernel took with the SYN.
func (f *flow) synSent() {
	if f.inSYN == 0 {
		return
	}
	h := &f.in
	if h.off += f.inSYN; h.off == h.n {
		h.off, h.n = 0, 0
	}
	f.inSYN = 0
}
