//go:build linux

package netdrv

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Sockets inside namespaces. A socket belongs to the network namespace of
// the thread that created it, for its whole life. So: lock the goroutine to
// its OS thread, setns into the target, create the socket, setns back,
// unlock. The namespace handles are cached (opened once per VPC/host) and
// the namespace to return to is the process's, opened once at start, so
// the per-call cost is two setns(2) calls on top of the socket work. This
// runs on the caller's goroutine: handing the work to a helper goroutine
// (which could simply exit to retire a thread stuck in a foreign namespace)
// measured ~3x the setns cost, and restoring practically cannot fail.

// runIn runs fn with the calling goroutine's thread switched into the
// namespace returned by get (called under d.mu, which keeps the handle open
// until setns is done).
func (d *NetnsDriver) runIn(get func() (netns.NsHandle, error), fn func() error) error {
	runtime.LockOSThread()
	d.mu.RLock()
	ns, err := get()
	if err == nil {
		err = netns.Set(ns)
	}
	d.mu.RUnlock()
	if err != nil {
		// setns is all-or-nothing: still in the original namespace.
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(d.origin); err != nil {
		// This thread is stuck in the foreign namespace. Stay locked: no
		// other goroutine will ever run on it, and the runtime destroys it
		// when the calling goroutine exits.
		d.log.Error("netdrv: cannot restore network namespace; thread quarantined", "err", err)
		return fmt.Errorf("netdrv: restore netns: %w (after: %v)", err, ferr)
	}
	runtime.UnlockOSThread()
	return ferr
}

func (d *NetnsDriver) runInVPC(vpcID string, fn func() error) error {
	get, err := d.vpcGetter(vpcID)
	if err != nil {
		return err
	}
	return d.runIn(get, fn)
}

func (d *NetnsDriver) runInHost(hostID string, fn func() error) error {
	get, err := d.hostGetter(hostID)
	if err != nil {
		return err
	}
	return d.runIn(get, fn)
}

// vpcGetter returns the lookup of a VPC's namespace handle for runIn,
// loading a namespace left by a previous run first if need be.
func (d *NetnsDriver) vpcGetter(vpcID string) (func() (netns.NsHandle, error), error) {
	d.mu.RLock()
	_, ok := d.vpcs[vpcID]
	d.mu.RUnlock()
	if !ok { // a namespace left by a previous run?
		d.opMu.Lock()
		_, err := d.loadVPC(vpcID)
		d.opMu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return func() (netns.NsHandle, error) {
		if v := d.vpcs[vpcID]; v != nil {
			return v.ns, nil
		}
		return netns.None(), fmt.Errorf("%w: vpc %s", ErrNotFound, vpcID)
	}, nil
}

func (d *NetnsDriver) hostGetter(hostID string) (func() (netns.NsHandle, error), error) {
	d.mu.RLock()
	_, ok := d.hosts[hostID]
	d.mu.RUnlock()
	if !ok {
		d.opMu.Lock()
		_, err := d.loadHost(hostID)
		d.opMu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return func() (netns.NsHandle, error) {
		if h := d.hosts[hostID]; h != nil {
			return h.ns, nil
		}
		return netns.None(), fmt.Errorf("%w: host %s", ErrNotFound, hostID)
	}, nil
}

// Listen implements Sockets: ListenMany of one.
func (d *NetnsDriver) Listen(vpcID string, addr netip.AddrPort) (net.Listener, error) {
	lns, errs := d.ListenMany(vpcID, []netip.AddrPort{addr})
	return lns[0], errs[0]
}

// ListenMany implements Sockets: one locked thread enters the VPC's
// namespace once and opens every listener of the batch (the same socket
// options as Listen), so a restart with thousands of listeners in one VPC
// pays one setns pair per batch instead of one per listener. A namespace
// that cannot be entered fails every entry with the same error.
func (d *NetnsDriver) ListenMany(vpcID string, addrs []netip.AddrPort) ([]net.Listener, []error) {
	lns, errs := make([]net.Listener, len(addrs)), make([]error, len(addrs))
	open := func() error {
		for i, a := range addrs {
			lns[i], errs[i] = listenTCP(a)
		}
		return nil
	}
	if vpcID == "" {
		_ = open()
		return lns, errs
	}
	if err := d.runInVPC(vpcID, open); err != nil {
		// Not entered, or the thread could not come back: whatever was
		// opened is closed (it may sit in a namespace we cannot vouch for).
		for i, ln := range lns {
			if ln != nil {
				_ = ln.Close()
			}
			lns[i], errs[i] = nil, err
		}
	}
	return lns, errs
}

// ListenPacket implements Sockets.
func (d *NetnsDriver) ListenPacket(vpcID string, addr netip.AddrPort) (pc net.PacketConn, err error) {
	if vpcID == "" {
		return listenUDP(addr)
	}
	err = d.runInVPC(vpcID, func() (e error) { pc, e = listenUDP(addr); return })
	return closeOnErr(pc, err)
}

// Dial implements Sockets (TCP).
func (d *NetnsDriver) Dial(ctx context.Context, vpcID string, addr netip.AddrPort) (net.Conn, error) {
	if vpcID == "" {
		return dialTCP(ctx, addr)
	}
	get, err := d.vpcGetter(vpcID)
	if err != nil {
		return nil, err
	}
	return d.dialIn(ctx, get, addr)
}

// Socket implements Sockets. IPv4 sockets for a VPC are made in batches of
// socketBatch per pair of namespace switches and handed out one by one.
func (d *NetnsDriver) Socket(vpcID string, addr netip.AddrPort) (int, netip.AddrPort, error) {
	addr = unmapAP(addr)
	if vpcID == "" {
		fd, err := tcpSocket(addr)
		return fd, addr, err
	}
	d.mu.RLock()
	v := d.vpcs[vpcID]
	d.mu.RUnlock()
	if v == nil || !addr.Addr().Is4() {
		fd := -1
		err := d.runInVPC(vpcID, func() (e error) { fd, e = tcpSocket(addr); return })
		if err != nil && fd >= 0 {
			unix.Close(fd) // made, but the thread could not return
			fd = -1
		}
		return fd, addr, err
	}
	fd, err := v.spare.take(func(fds []int) ([]int, error) {
		err := d.runInVPC(vpcID, func() error {
			for range socketBatch {
				fd, err := tcpSocket(addr)
				if err != nil {
					return err
				}
				fds = append(fds, fd)
			}
			return nil
		})
		return fds, err
	})
	return fd, addr, err
}

// socketBatch is how many sockets Socket makes per namespace switch.
const socketBatch = 32

// spareSockets holds IPv4 TCP sockets made in a VPC namespace ahead of use.
// They are closed with the VPC: a socket keeps its namespace alive.
type spareSockets struct {
	mu     sync.Mutex
	fds    []int
	closed bool
}

// take returns a spare socket, calling fill to add more when none is left.
func (s *spareSockets) take(fill func([]int) ([]int, error)) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return -1, fmt.Errorf("%w: vpc deleted", ErrNotFound)
	}
	if len(s.fds) == 0 {
		fds, err := fill(s.fds)
		if len(fds) == 0 {
			return -1, err
		}
		s.fds = fds
	}
	fd := s.fds[len(s.fds)-1]
	s.fds = s.fds[:len(s.fds)-1]
	return fd, nil
}

func (s *spareSockets) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.fds, s.closed = nil, true
}

// ListenHost implements Sockets: a TCP listener inside the host's namespace.
func (d *NetnsDriver) ListenHost(hostID string, addr netip.AddrPort) (ln net.Listener, err error) {
	err = d.runInHost(hostID, func() (e error) { ln, e = listenTCP(addr); return })
	return closeOnErr(ln, err)
}

// ListenPacketHost implements Sockets: a UDP socket inside the host's namespace.
func (d *NetnsDriver) ListenPacketHost(hostID string, addr netip.AddrPort) (pc net.PacketConn, err error) {
	err = d.runInHost(hostID, func() (e error) { pc, e = listenUDP(addr); return })
	return closeOnErr(pc, err)
}

// DialHost implements Sockets: TCP from inside the host's namespace.
func (d *NetnsDriver) DialHost(ctx context.Context, hostID string, addr netip.AddrPort) (net.Conn, error) {
	get, err := d.hostGetter(hostID)
	if err != nil {
		return nil, err
	}
	return d.dialIn(ctx, get, addr)
}

// closeOnErr drops a socket created before a later failure (restoring the
// namespace), so callers never get both a value and an error.
func closeOnErr[T io.Closer](v T, err error) (T, error) {
	if err != nil {
		var zero T
		if any(v) != nil {
			v.Close()
		}
		return zero, err
	}
	return v, nil
}

// tcpSocket creates a non-blocking TCP socket for dialing addr in the
// calling thread's network namespace.
func tcpSocket(addr netip.AddrPort) (int, error) {
	family := unix.AF_INET6
	if addr.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("netdrv: socket: %w", err)
	}
	return fd, nil
}
