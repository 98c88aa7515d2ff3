// Package handoff lets a restarting agent (zone or node) take over from
// the running one without a moment in which its endpoints refuse a
// connection (an upgrade, or any planned restart). Over a Unix socket the running agent,
// the giver, passes its listening sockets (SCM_RIGHTS) and its lease to
// its successor, the taker. The giver stops applying changes while it
// gives and keeps serving; once the taker has applied its first round on
// the same sockets and lease, the giver releases: it stops accepting
// (connections waiting in the shared sockets' queues go to the taker),
// lets its open connections finish and exits without revoking the lease,
// so no report is withdrawn and rewritten. If the taker goes away before
// it says it is ready (or is not ready within ReadyTimeout), the giver
// resumes; a giver stopped mid-handoff leaves the lease to the taker.
//
// The protocol is a few SOCK_SEQPACKET messages: the taker sends "take 1"
// (its version; a giver of another version answers with an error);
// the giver answers with batches {"keys":[...]} carrying the descriptors
// in order, then {"lease":ID,"count":N} (or {"error":...}); the taker
// sends "ready"; the giver releases and answers "released", after which
// the taker may serve the socket path itself for the next restart. A
// giver that waited ReadyTimeout for "ready" resumes and sends "resumed"
// (ErrResumed: the taker must give up). Both sides check that the peer
// runs as their own user.
package handoff

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is one listening socket handed over: Key names it (see Key), FD
// is its descriptor.
type Socket struct {
	Key string
	FD  int
}

// Offer is what a giver hands over.
type Offer struct {
	Lease   int64
	Sockets []Socket
}

// Key names a listening socket: its protocol ("tcp", "udp"), the VPC it
// is in ("" for the machine's network) and its address.
func Key(proto, vpcID string, addr netip.AddrPort) string {
	return proto + " " + vpcID + " " + netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()).String()
}

const (
	network  = "unixpacket"
	version  = 1       // of the protocol: a giver serves takers of its own version only
	perBatch = 200     // descriptors per message (the kernel's limit is 253)
	maxMsg   = 1 << 16 // bytes per message

	msgTake    = "take 1" // "take <version>"
	msgReady   = "ready"
	msgDone    = "released"
	msgResumed = "resumed" // the giver gave up waiting and serves on
)

// ErrResumed is Ready's error when the giver gave up waiting for the
// taker and serves on: the taker must not serve (abort its start).
var ErrResumed = errors.New("handoff: the running agent gave up waiting and serves on")

// header is the giver's message: a batch of keys (with as many
// descriptors), the closing summary, or an error.
type header struct {
	Keys  []string `json:"keys,omitempty"`
	Lease int64    `json:"lease,omitempty"`
	Count int      `json:"count,omitempty"`
	Last  bool     `json:"last,omitempty"`
	Error string   `json:"error,omitempty"`
	Drop  []string `json:"drop,omitempty"` // a worker to its keeper: these sockets are closed
}

func send(c *net.UnixConn, h header, fds []int) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// inBatches calls f with each batch of at most perBatch sockets: their
// keys in a header and their descriptors; it stops at f's first error.
func inBatches(ss []Socket, f func(header, []int) error) error {
	for i := 0; i < len(ss); i += perBatch {
		b := ss[i:min(i+perBatch, len(ss))]
		h := header{Keys: make([]string, len(b))}
		fds := make([]int, len(b))
		for j, s := range b {
			h.Keys[j], fds[j] = s.Key, s.FD
		}
		if err := f(h, fds); err != nil {
			return err
		}
	}
	return nil
}

// recv reads one giver message and the descriptors it carries (owned by
// the caller, even with an error).
func recv(c *net.UnixConn) (header, []int, error) {
	b, fds, err := recvRaw(c)
	if err != nil {
		return header{}, fds, err
	}
	return decode(b, fds)
}

// recvRaw reads one message and the descriptors it carries (owned by the
// caller, even with an error).
func recvRaw(c *net.UnixConn) ([]byte, []int, error) {
	b, oob := make([]byte, maxMsg), make([]byte, unix.CmsgSpace(perBatch*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(b, oob)
	if err != nil {
		return nil, nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, nil, fmt.Errorf("handoff: control message: %w", err)
		}
		for _, m := range msgs {
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return nil, fds, fmt.Errorf("handoff: descriptors: %w", err)
			}
			fds = append(fds, got...)
		}
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		return nil, fds, errors.New("handoff: message truncated")
	}
	return b[:n], fds, nil
}

// decode parses a header message that carried fds.
func decode(b []byte, fds []int) (header, []int, error) {
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		return header{}, fds, fmt.Errorf("handoff: bad message: %w", err)
	}
	if h.Error != "" {
		return h, fds, fmt.Errorf("handoff: giver: %s", h.Error)
	}
	if len(h.Keys) != len(fds) {
		return h, fds, fmt.Errorf("handoff: %d keys with %d descriptors", len(h.Keys), len(fds))
	}
	return h, fds, nil
}

// word sends or expects one of the short protocol words.
func sendWord(c *net.UnixConn, w string) error {
	_, err := c.Write([]byte(w))
	return err
}

func readWord(c *net.UnixConn, want string, deadline time.Time) error {
	_ = c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, 64)
	n, err := c.Read(b)
	if err != nil {
		return err
	}
	if string(b[:n]) == msgResumed && want == msgDone {
		return ErrResumed
	}
	if string(b[:n]) != want {
		return fmt.Errorf("handoff: got %q, want %q", b[:n], want)
	}
	return nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}
