package handoff

import (
	"net"
	"net/netip"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/privlink/privlink/internal/netdrv"
)

// Sockets is the taker's netdrv.Sockets: where a handed-over socket has
// the key of a listener asked for, it is used instead of binding anew
// (the giver still listens on the same address until it releases).
type Sockets struct {
	netdrv.Sockets
	mu  sync.Mutex
	fds map[string]int
}

// NewSockets wraps s with the handed-over sockets (it owns their
// descriptors from now on).
func NewSockets(s netdrv.Sockets, given []Socket) *Sockets {
	m := make(map[string]int, len(given))
	for _, g := range given {
		if old, ok := m[g.Key]; ok {
			_ = unix.Close(old)
		}
		m[g.Key] = g.FD
	}
	return &Sockets{Sockets: s, fds: m}
}

func (s *Sockets) take(key string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fd, ok := s.fds[key]
	delete(s.fds, key)
	return fd, ok
}

// Listen implements netdrv.Sockets.
func (s *Sockets) Listen(vpcID string, addr netip.AddrPort) (net.Listener, error) {
	lns, errs := s.ListenMany(vpcID, []netip.AddrPort{addr})
	return lns[0], errs[0]
}

// ListenMany implements netdrv.Sockets: the handed-over sockets of the
// batch, and the others bound by the wrapped driver.
func (s *Sockets) ListenMany(vpcID string, addrs []netip.AddrPort) ([]net.Listener, []error) {
	lns, errs := make([]net.Listener, len(addrs)), make([]error, len(addrs))
	var rest []netip.AddrPort
	var at []int
	for i, a := range addrs {
		fd, ok := s.take(Key("tcp", vpcID, a))
		if !ok {
			rest, at = append(rest, a), append(at, i)
			continue
		}
		lns[i], errs[i] = fromFD(fd, net.FileListener)
	}
	if len(rest) > 0 {
		rl, re := s.Sockets.ListenMany(vpcID, rest)
		for j, i := range at {
			lns[i], errs[i] = rl[j], re[j]
		}
	}
	return lns, errs
}

// ListenShared implements netdrv.Sockets: a resolver socket held by a
// socket keeper (key proto "tcp-shared") or bound anew.
func (s *Sockets) ListenShared(vpcID string, addr netip.AddrPort) (net.Listener, error) {
	return handed(s, Key("tcp-shared", vpcID, addr), net.FileListener, func() (net.Listener, error) { return s.Sockets.ListenShared(vpcID, addr) })
}

// ListenPacketShared implements netdrv.Sockets like ListenShared
// ("udp-shared").
func (s *Sockets) ListenPacketShared(vpcID string, addr netip.AddrPort) (net.PacketConn, error) {
	return handed(s, Key("udp-shared", vpcID, addr), net.FilePacketConn, func() (net.PacketConn, error) { return s.Sockets.ListenPacketShared(vpcID, addr) })
}

// Listener returns the handed-over TCP listener of key, if there is one
// (nil, nil if not): sockets outside the driver, like the management
// listener.
func (s *Sockets) Listener(key string) (net.Listener, error) {
	return handed(s, key, net.FileListener, func() (net.Listener, error) { return nil, nil })
}

// ListenPacket implements netdrv.Sockets.
func (s *Sockets) ListenPacket(vpcID string, addr netip.AddrPort) (net.PacketConn, error) {
	return handed(s, Key("udp", vpcID, addr), net.FilePacketConn, func() (net.PacketConn, error) { return s.Sockets.ListenPacket(vpcID, addr) })
}

// handed is the handed-over socket of key made by mk, or else bind's.
func handed[T any](s *Sockets, key string, mk func(*os.File) (T, error), bind func() (T, error)) (T, error) {
	fd, ok := s.take(key)
	if !ok {
		return bind()
	}
	return fromFD(fd, mk)
}

// fromFD makes a Go socket of fd (a duplicate) and closes fd.
func fromFD[T any](fd int, mk func(*os.File) (T, error)) (T, error) {
	f := os.NewFile(uintptr(fd), "handed-over socket")
	defer f.Close()
	return mk(f)
}

// CloseUnused closes the handed-over sockets nothing asked for (endpoints
// gone during the handoff) and returns their keys.
func (s *Sockets) CloseUnused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.fds))
	for k, fd := range s.fds {
		_ = unix.Close(fd)
		delete(s.fds, k)
		keys = append(keys, k)
	}
	return keys
}
