//go:build linux

package netdrv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	netnsRunDir = "/run/netns" // where `ip netns` keeps named namespaces
	netnsEtcDir = "/etc/netns" // per-namespace /etc overrides of `ip netns exec`
	nsfsMagic   = 0x6e736673   // NSFS_MAGIC
)

// ensureRunDir makes /run/netns a shared mount point, exactly like
// iproute2's `ip netns add` does on first use. Doing it before creating any
// namespace matters: if `ip netns add` did it later, it would bind-mount
// /run/netns over itself, and our bind mounts underneath would leak
// (unmounting the visible copy would not free the namespace).
func ensureRunDir() error {
	if err := os.MkdirAll(netnsRunDir, 0o755); err != nil {
		return err
	}
	dir, err := os.Open(netnsRunDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	// Serialise with other processes using this package.
	if err := unix.Flock(int(dir.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	defer unix.Flock(int(dir.Fd()), unix.LOCK_UN) //nolint:errcheck
	err = unix.Mount("", netnsRunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("make %s shared: %w", netnsRunDir, err)
	}
	// Not a mount point yet.
	if err := unix.Mount(netnsRunDir, netnsRunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", netnsRunDir, err)
	}
	if err := unix.Mount("", netnsRunDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", netnsRunDir, err)
	}
	return nil
}

// openNS opens a network namespace file and checks that it really is one
// (a leftover plain file in /run/netns is not).
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

func namedPath(name string) string { return filepath.Join(netnsRunDir, name) }

// errNotNamespace: a file in /run/netns with nothing mounted on it.
var errNotNamespace = errors.New("not a namespace file")

// openNamed opens /run/netns/<name>; (None, nil) if it does not exist.
// A file with no namespace mounted on it, which a crash between creating
// it and bind-mounting it leaves behind, is removed and reported as
// absent (repaired = true), so that it never blocks creating the name.
func openNamed(name string) (h netns.NsHandle, repaired bool, err error) {
	h, err = openNS(namedPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return netns.None(), false, nil
	}
	if !errors.Is(err, errNotNamespace) {
		return h, false, err
	}
	err = withRunDirLock(func() error {
		// Under the lock no one is between creating and mounting it.
		h, err = openNS(namedPath(name))
		if !errors.Is(err, errNotNamespace) {
			return err
		}
		repaired = true
		if err := os.Remove(namedPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove unmounted leftover %s: %w", namedPath(name), err)
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

// withRunDirLock runs fn holding an exclusive flock on /run/netns, which
// every privlink process (and nothing else) takes around creating a named
// namespace, so that no one sees a file between its creation and its
// bind mount. The kernel drops the lock with the process.
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

// createNamed creates a fresh network namespace bound at /run/netns/<name>
// (what `ip netns add` does) and returns an open handle to it. origin is
// the namespace to return the thread to afterwards.
// The file's creation and its mount happen under withRunDirLock; a crash
// in between leaves a plain file that openNamed removes.
func createNamed(origin netns.NsHandle, name string) (netns.NsHandle, error) {
	h := netns.None()
	err := withRunDirLock(func() error {
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
	}
	return h, err
}

// deleteNamed unmounts and removes /run/netns/<name>; missing is fine.
func deleteNamed(name string) error {
	p := namedPath(name)
	err := unix.Unmount(p, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// onThread runs fn on a goroutine locked to its OS thread and then puts
// that thread back into origin (fn may switch namespaces at will). Should
// that fail, the goroutine exits still locked, so the runtime retires the
// thread instead of reusing it. (Exiting locked is not used as the normal
// path: when the goroutine happens to run on the main thread, the runtime
// cannot kill it and parks it for good, and /proc/self/ns/net, which
// follows the main thread, would then name the wrong namespace and pin it.)
func onThread(origin netns.NsHandle, fn func() error) error {
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

// inNS runs fn on a separate OS thread switched into ns.
func inNS(origin, ns netns.NsHandle, fn func() error) error {
	return onThread(origin, func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("setns: %w", err)
		}
		return fn()
	})
}

// sysctl reads and optionally writes a /proc/sys value inside ns. It
// returns the previous value.
func sysctl(origin, ns netns.NsHandle, key, value string) (string, error) {
	var prev string
	err := inNS(origin, ns, func() error {
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

// listNamed lists /run/netns entries.
func listNamed() ([]string, error) {
	ents, err := os.ReadDir(netnsRunDir)
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

func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, unix.ENODEV)
}

// retryDump retries netlink dumps interrupted by concurrent changes.
func retryDump[T any](fn func() (T, error)) (T, error) {
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
