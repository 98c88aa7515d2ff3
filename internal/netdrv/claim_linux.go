//go:build linux

package netdrv

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ClaimDir holds the per-prefix lock and owner files.
const ClaimDir = "/run/privlink"

// PrefixClaim is a process's hold on a namespace prefix on this machine:
// a shared flock on ClaimDir/netns-<prefix>.lock, which every process of
// one deployment holds (servers and standalone agents of different zones
// legitimately share a prefix) and the kernel drops when the process dies,
// so kill -9 never leaves a stale claim. ClaimDir/netns-<prefix>.owner
// names the deployment that holds it.
type PrefixClaim struct {
	mu   sync.Mutex
	f    *os.File
	base string // ClaimDir/netns-<prefix>
}

// ErrPrefixHeld is wrapped by ClaimPrefix's error when another deployment's
// live process holds the prefix.
var ErrPrefixHeld = errors.New("netns prefix held by another privlink deployment")

// ClaimPrefix claims prefix for deployment (store.DeploymentID). It fails
// with ErrPrefixHeld, naming the holders' pids, while a live process of
// another deployment holds it; then nothing has been touched. Processes
// of the same deployment share the claim. A claim whose holders all died
// is free: the owner file is rewritten (the previous deployment is logged
// by the caller from Previous).
func ClaimPrefix(prefix, deployment string) (*PrefixClaim, string, error) {
	if !prefixRE.MatchString(prefix) {
		return nil, "", fmt.Errorf("netdrv: invalid prefix %q", prefix)
	}
	if deployment == "" {
		return nil, "", errors.New("netdrv: empty deployment ID")
	}
	deployment = claimID(deployment)
	if err := os.MkdirAll(ClaimDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("netdrv: %w", err)
	}
	base := filepath.Join(ClaimDir, "netns-"+prefix)
	owner, err := lockOwner(base)
	if err != nil {
		return nil, "", fmt.Errorf("netdrv: claim prefix %s: %w", prefix, err)
	}
	defer owner.Close()
	lock, err := os.OpenFile(base+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("netdrv: claim prefix %s: %w", prefix, err)
	}
	fail := func(err error) (*PrefixClaim, string, error) {
		lock.Close()
		return nil, "", err
	}
	prev, prevPid := readOwner(owner)
	err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	switch {
	case errors.Is(err, unix.EWOULDBLOCK):
		// Live holders: only the same deployment may join them.
		if prev != deployment {
			pids := lockHolders(lock)
			if len(pids) == 0 && prevPid != "" {
				pids = []string{prevPid}
			}
			return fail(fmt.Errorf("netdrv: %w: prefix %q is in use by pid %s (deployment %s; this one is %s); "+
				"use another --netns-prefix or stop that process", ErrPrefixHeld, prefix, strings.Join(pids, ","), prev, deployment))
		}
	case err != nil:
		return fail(fmt.Errorf("netdrv: claim prefix %s: %w", prefix, err))
	default:
		// Free (never held, or every holder died): ours now.
		if err := writeOwner(owner, deployment); err != nil {
			return fail(fmt.Errorf("netdrv: claim prefix %s: %w", prefix, err))
		}
	}
	// Shared from here on (a conversion need not be atomic: the owner
	// lock keeps other claimers out meanwhile).
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_SH); err != nil {
		return fail(fmt.Errorf("netdrv: claim prefix %s: %w", prefix, err))
	}
	if prev == deployment {
		prev = ""
	}
	return &PrefixClaim{f: lock, base: base}, prev, nil
}

// lockOwner opens base.owner and takes its exclusive flock, which
// serialises claims and releases (held briefly). A file unlinked by the
// last releaser between open and flock is not the lock any more: retry.
func lockOwner(base string) (*os.File, error) {
	for {
		f, err := os.OpenFile(base+".owner", os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
		var a, b unix.Stat_t
		if unix.Fstat(int(f.Fd()), &a) == nil && unix.Stat(base+".owner", &b) == nil && a.Ino == b.Ino {
			return f, nil
		}
		f.Close()
	}
}

// Release drops the claim (the kernel does it too when the process dies);
// the last holder removes the lock and owner files.
func (c *PrefixClaim) Release() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return
	}
	if owner, err := lockOwner(c.base); err == nil {
		if unix.Flock(int(c.f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.Remove(c.base + ".lock")
			os.Remove(c.base + ".owner")
		}
		owner.Close()
	}
	c.f.Close()
	c.f = nil
}

// claimID is the deployment ID as recorded: itself when it is short and
// plain (what store.DeploymentID makes), else a digest of it (a record
// corrupted into anything still names one deployment).
func claimID(deployment string) string {
	if len(deployment) <= 64 && strings.Trim(deployment, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.") == "" {
		return deployment
	}
	sum := sha256.Sum256([]byte(deployment))
	return "sha256-" + hex.EncodeToString(sum[:16])
}

// readOwner returns the deployment and pid in an owner file.
func readOwner(f *os.File) (deployment, pid string) {
	b := make([]byte, 256)
	n, _ := f.ReadAt(b, 0)
	for _, line := range strings.Split(string(b[:n]), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "deployment":
			deployment = v
		case "pid":
			pid = v
		}
	}
	return deployment, pid
}

func writeOwner(f *os.File, deployment string) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(fmt.Sprintf("deployment=%s\npid=%d\n", deployment, os.Getpid())), 0)
	return err
}

// lockHolders lists the pids holding a flock on f, from /proc/locks.
func lockHolders(f *os.File) []string {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil
	}
	want := ":" + strconv.FormatUint(st.Ino, 10)
	pl, err := os.Open("/proc/locks")
	if err != nil {
		return nil
	}
	defer pl.Close()
	var pids []string
	sc := bufio.NewScanner(pl)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  READ 1234 00:1a:5678 0 EOF"; waiters have "->".
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[1] != "FLOCK" || !strings.HasSuffix(fs[5], want) {
			continue
		}
		if !slices.Contains(pids, fs[4]) {
			pids = append(pids, fs[4])
		}
	}
	return pids
}
