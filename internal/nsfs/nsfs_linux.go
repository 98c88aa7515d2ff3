//go:build linux

package nsfs

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	// RunDir is where `ip netns` keeps named namespaces.
	RunDir = "/run/netns"
	// EtcDir holds the per-namespace /etc overrides of `ip netns exec`.
	EtcDir    = "/etc/netns"
	nsfsMagic = 0x6e736673 // NSFS_MAGIC
)

// ErrNotNamespace: a file in /run/netns with nothing mounted on it.
var ErrNotNamespace = errors.New("not a namespace file")

// EnsureRunDir makes /run/netns a shared mount point, exactly like
// iproute2's `ip netns add` does on first use. Doing it before creating any
// namespace matters: if `ip netns add` did it later, it would bind-mount
// /run/netns over itself, and our bind mounts underneath would leak
// (unmounting the visible copy would not free the namespace).
func EnsureRunDir() error {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return err
	}
	return WithRunDirLock(func() error {
		err := unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("make %s shared: %w", RunDir, err)
		}
		// Not a mount point yet.
		if err := unix.Mount(RunDir, RunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", RunDir, err)
		}
		if err := unix.Mount("", RunDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("make %s shared: %w", RunDir, err)
		}
		return nil
	})
}

// WithRunDirLock runs fn holding an exclusive flock on /run/netns, which
// every privlink process and lab (and nothing else) takes around creating
// a named namespace, so that no one sees a file between its creation and
// its bind mount. The kernel drops the lock with the process.
func WithRunDirLock(fn func() error) error {
	dir, err := os.Open(RunDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := unix.Flock(int(dir.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", RunDir, err)
	}
	defer unix.Flock(int(dir.Fd()), unix.LOCK_UN) //nolint:errcheck
	return fn()
}

// Path is /run/netns/<name>.
func Path(name string) string { return filepath.Join(RunDir, name) }

// Open opens a network namespace file and checks that it really is one
// (a leftover plain file in /run/netns is not: ErrNotNamespace).
func Open(path string) (netns.NsHandle, error) {
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
		return netns.None(), fmt.Errorf("%s: %w", path, ErrNotNamespace)
	}
	return netns.NsHandle(fd), nil
}

// OpenNamed opens /run/netns/<name>; (None, nil) if it does not exist.
// A file with no namespace mounted on it, which a crash between creating
// it and bind-mounting it leaves behind, is removed and reported as
// absent (repaired = true), so that it never blocks creating the name.
func OpenNamed(name string) (h netns.NsHandle, repaired bool, err error) {
	h, err = Open(Path(name))
	if errors.Is(err, os.ErrNotExist) {
		return netns.None(), false, nil
	}
	if !errors.Is(err, ErrNotNamespace) {
		return h, false, err
	}
	err = WithRunDirLock(func() error {
		// Under the lock no one is between creating and mounting it.
		h, err = Open(Path(name))
		if !errors.Is(err, ErrNotNamespace) {
			return err
		}
		repaired = true
		if err := os.Remove(Path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove unmounted leftover %s: %w", Path(name), err)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if err != nil || repaired {
		return netns.None(), repaired, err
	}
	return h, false, nil
}

// Create creates a fresh network namespace bound at /run/netns/<name>
// (what `ip netns add` does) and returns an open handle to it. origin is
// the namespace to return the thread to afterwards. The file's creation
// and its mount happen under WithRunDirLock; a crash in between leaves a
// plain file that OpenNamed removes.
func Create(origin netns.NsHandle, name string) (netns.NsHandle, error) {
	h := netns.None()
	err := WithRunDirLock(func() error {
		return OnThread(origin, func() error {
			p := Path(name)
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
			h, err = Open(p)
			return err
		})
	})
	if err != nil && h.IsOpen() {
		h.Close()
		h = netns.None()
	}
	return h, err
}

// Delete unmounts and removes /run/netns/<name>; missing is fine.
func Delete(name string) error {
	p := Path(name)
	err := unix.Unmount(p, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Teardown deletes the links in a named namespace (so veth peers in other
// namespaces vanish at once) and then unmounts and removes the name. A
// name that does not exist is fine.
func Teardown(name string) error {
	ns, _, err := OpenNamed(name)
	if err != nil {
		return errors.Join(err, Delete(name))
	}
	if !ns.IsOpen() {
		return nil
	}
	var errs []error
	if nlh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
		errs = append(errs, err)
	} else {
		links, err := RetryDump(nlh.LinkList)
		errs = append(errs, err)
		for _, l := range links {
			if l.Attrs().Name == "lo" {
				continue
			}
			if err := nlh.LinkDel(l); err != nil && !IsLinkNotFound(err) {
				errs = append(errs, fmt.Errorf("delete link %s in %s: %w", l.Attrs().Name, name, err))
			}
		}
		nlh.Close()
	}
	ns.Close()
	errs = append(errs, Delete(name))
	return errors.Join(errs...)
}

// List lists /run/netns entries.
func List() ([]string, error) {
	ents, err := os.ReadDir(RunDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// Current opens the calling thread's network namespace.
func Current() (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netns.Get()
	if err != nil {
		return netns.None(), fmt.Errorf("open own netns: %w", err)
	}
	return h, nil
}

// OnThread runs fn on a goroutine locked to its OS thread and then puts
// that thread back into origin (fn may switch namespaces at will). Should
// that fail, the goroutine exits still locked, so the runtime retires the
// thread instead of reusing it. (Exiting locked is not used as the normal
// path: when the goroutine happens to run on the main thread, the runtime
// cannot kill it and parks it for good, and /proc/self/ns/net, which
// follows the main thread, would then name the wrong namespace and pin it.)
func OnThread(origin netns.NsHandle, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := fn()
		if rerr := netns.Set(origin); rerr != nil {
			ch <- errors.Join(err, fmt.Errorf("restore netns: %w", rerr))
			return // still locked: the thread is retired
		}
		runtime.UnlockOSThread()
		ch <- err
	}()
	return <-ch
}

// In runs fn on a separate OS thread switched into ns.
func In(origin, ns netns.NsHandle, fn func() error) error {
	return OnThread(origin, func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("setns: %w", err)
		}
		return fn()
	})
}

// Sysctl reads and optionally writes (value != "") a /proc/sys value
// inside ns. It returns the previous value.
func Sysctl(origin, ns netns.NsHandle, key, value string) (string, error) {
	var prev string
	err := In(origin, ns, func() error {
		p := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		prev = strings.TrimSpace(string(b))
		if value == "" || prev == value {
			return nil
		}
		return os.WriteFile(p, []byte(value), 0o644)
	})
	return prev, err
}

// IsLinkNotFound reports whether err says a link does not exist.
func IsLinkNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, unix.ENODEV)
}

// RetryDump retries netlink dumps interrupted by concurrent changes.
func RetryDump[T any](fn func() (T, error)) (T, error) {
	var v T
	var err error
	for range 5 {
		v, err = fn()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}

// WaitOperUp waits until a link is operationally up (or UNKNOWN with
// IFF_UP, as devices without carrier reporting are). Until the kernel's
// linkwatch has run (batched, up to 1 s after carrier-on) a new veth or
// bridge still has the noop qdisc and drops what is sent to it.
func WaitOperUp(nlh *netlink.Handle, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := nlh.LinkByName(name)
		if err != nil {
			return err
		}
		st := l.Attrs().OperState
		if st == netlink.OperUp || (st == netlink.OperUnknown && l.Attrs().Flags&net.FlagUp != 0) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not operationally up after %v (%v)", name, timeout, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
