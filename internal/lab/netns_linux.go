//go:build linux

package lab

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The named-namespace primitives below follow internal/netdrv's
// (nsutil_linux.go): the same /run/netns shared mount and the same flock,
// so labs, servers and agents on one machine never race on /run/netns.
// They are repeated here rather than exported from netdrv to keep the lab
// independent of the driver's internals.

const (
	netnsRunDir = "/run/netns"
	netnsEtcDir = "/etc/netns"
	nsfsMagic   = 0x6e736673 // NSFS_MAGIC
)

// ensureRunDir makes /run/netns a shared mount point, as `ip netns add`
// does on first use.
func ensureRunDir() error {
	if err := os.MkdirAll(netnsRunDir, 0o755); err != nil {
		return err
	}
	return withRunDirLock(func() error {
		err := unix.Mount("", netnsRunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("make %s shared: %w", netnsRunDir, err)
		}
		if err := unix.Mount(netnsRunDir, netnsRunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", netnsRunDir, err)
		}
		if err := unix.Mount("", netnsRunDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("make %s shared: %w", netnsRunDir, err)
		}
		return nil
	})
}

func withRunDirLock(fn func() error) error {
	dir, err := os.Open(netnsRunDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := unix.Flock(int(dir.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", netnsRunDir, err)
	}
	defer unix.Flock(int(dir.Fd()), unix.LOCK_UN) //nolint:errcheck
	return fn()
}

func namedPath(name string) string { return filepath.Join(netnsRunDir, name) }

var errNotNamespace = errors.New("not a namespace file")

// openNS opens a namespace file, checking it really is one.
func openNS(path string) (netns.NsHandle, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return netns.None(), err
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		unix.Close(fd)
		return netns.None(), err
	}
	if st.Type != nsfsMagic {
		unix.Close(fd)
		return netns.None(), fmt.Errorf("%s: %w", path, errNotNamespace)
	}
	return netns.NsHandle(fd), nil
}

// CreateNamed creates a fresh network namespace bound at /run/netns/<name>
// (what `ip netns add` does) and returns an open handle to it. The calling
// goroutine's thread is left in its namespace.
func CreateNamed(name string) (netns.NsHandle, error) {
	if err := ensureRunDir(); err != nil {
		return netns.None(), err
	}
	origin, err := currentNS()
	if err != nil {
		return netns.None(), err
	}
	defer origin.Close()
	h := netns.None()
	err = withRunDirLock(func() error {
		return onThread(origin, func() error {
			p := namedPath(name)
			f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
			if err != nil {
				return err
			}
			f.Close()
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				os.Remove(p)
				return fmt.Errorf("unshare: %w", err)
			}
			self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
			if err := unix.Mount(self, p, "none", unix.MS_BIND, ""); err != nil {
				os.Remove(p)
				return fmt.Errorf("bind-mount %s: %w", p, err)
			}
			h, err = openNS(p)
			return err
		})
	})
	if err != nil && h.IsOpen() {
		h.Close()
		h = netns.None()
	}
	if err != nil {
		return h, fmt.Errorf("create netns %s: %w", name, err)
	}
	return h, nil
}

// teardownNamed deletes the links in a named namespace (so veth peers in
// other namespaces vanish at once) and then unmounts and removes the name.
// A name that does not exist is fine.
func teardownNamed(name string) error {
	var errs []error
	ns, err := openNS(namedPath(name))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err == nil:
		if nlh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
			errs = append(errs, err)
		} else {
			links, err := linkList(nlh)
			errs = append(errs, err)
			for _, l := range links {
				if l.Attrs().Name == "lo" {
					continue
				}
				if err := nlh.LinkDel(l); err != nil && !isNotFound(err) {
					errs = append(errs, fmt.Errorf("delete link %s in %s: %w", l.Attrs().Name, name, err))
				}
			}
			nlh.Close()
		}
		ns.Close()
	case !errors.Is(err, errNotNamespace):
		errs = append(errs, err)
	}
	p := namedPath(name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func linkList(nlh *netlink.Handle) ([]netlink.Link, error) {
	var links []netlink.Link
	var err error
	for range 5 {
		if links, err = nlh.LinkList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return links, err
}

func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, unix.ENODEV)
}

func currentNS() (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netns.Get()
	if err != nil {
		return netns.None(), fmt.Errorf("open own netns: %w", err)
	}
	return h, nil
}

// onThread runs fn on a goroutine locked to its OS thread and puts the
// thread back into origin afterwards; if that fails the goroutine exits
// still locked and the runtime retires the thread.
func onThread(origin netns.NsHandle, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := fn()
		if rerr := netns.Set(origin); rerr != nil {
			ch <- errors.Join(err, fmt.Errorf("restore netns: %w", rerr))
			return
		}
		runtime.UnlockOSThread()
		ch <- err
	}()
	return <-ch
}

// inNS runs fn on a separate OS thread switched into ns.
func inNS(origin, ns netns.NsHandle, fn func() error) error {
	return onThread(origin, func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("setns: %w", err)
		}
		return fn()
	})
}

// waitOperUp waits until link name is operationally up (or UNKNOWN with
// IFF_UP, as lo and some virtual links report): until then a new veth or
// bridge keeps the noop qdisc and drops what it is given
// (docs/design/multinode.md §8, gotcha 1).
func waitOperUp(nlh *netlink.Handle, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		lk, err := nlh.LinkByName(name)
		if err != nil {
			return err
		}
		st := lk.Attrs().OperState
		if st == netlink.OperUp || (st == netlink.OperUnknown && lk.Attrs().Flags&net.FlagUp != 0) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not operationally up after %v: %v", name, timeout, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
