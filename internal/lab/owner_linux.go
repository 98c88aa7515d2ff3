//go:build linux

package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// OwnerDir holds one file per running lab, named by its prefix: the PID
// (and start time) of the process that owns the lab and of every process
// the lab started, so that SweepStale can clean up after a lab whose owner
// was killed, and only after such a lab.
const OwnerDir = "/run/privlink-lab"

func ownerPath(prefix string) string { return filepath.Join(OwnerDir, prefix) }

// procID identifies a process across PID reuse: PID and start time.
type procID struct {
	pid   int
	start uint64
}

// startTime is field 22 of /proc/<pid>/stat (clock ticks since boot).
func startTime(pid int) (uint64, error) {
	st, _, err := procStat(pid)
	return st, err
}

// procStat returns a process's start time and whether it has exited (a
// zombie not yet reaped by its parent counts as exited).
func procStat(pid int) (start uint64, exited bool, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, false, errors.New("malformed stat")
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, f[0] == "Z" || f[0] == "X", err
}

// alive reports whether the process p still runs (same PID, same start,
// not a zombie).
func (p procID) alive() bool {
	st, exited, err := procStat(p.pid)
	return err == nil && st == p.start && !exited
}

func writeOwner(prefix string) error {
	if err := os.MkdirAll(OwnerDir, 0o700); err != nil {
		return err
	}
	return appendOwner(prefix, "owner", os.Getpid())
}

func appendOwner(prefix, kind string, pid int) error {
	st, err := startTime(pid)
	if err != nil {
		return fmt.Errorf("start time of %d: %w", pid, err)
	}
	f, err := os.OpenFile(ownerPath(prefix), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, werr := fmt.Fprintf(f, "%s %d %d\n", kind, pid, st)
	return errors.Join(werr, f.Close())
}

func readOwner(prefix string) (owner procID, procs []procID, err error) {
	f, err := os.Open(ownerPath(prefix))
	if err != nil {
		return owner, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kind string
		var p procID
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d", &kind, &p.pid, &p.start); err != nil {
			continue
		}
		if kind == "owner" {
			owner = p
		} else {
			procs = append(procs, p)
		}
	}
	return owner, procs, sc.Err()
}

// SweepStale cleans up after labs whose owning process is gone (a test
// binary killed before its cleanup ran): it SIGKILLs the processes such a
// lab started that still run (matched by PID and start time, never by
// name), and removes its namespaces and /etc/netns entries. Labs of live
// processes are left alone, so labs of concurrent test runs are safe. It
// returns the prefixes it swept.
func SweepStale() ([]string, error) {
	ents, err := os.ReadDir(OwnerDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var swept []string
	var errs []error
	for _, e := range ents {
		prefix := e.Name()
		if !validPrefix(prefix) {
			continue
		}
		owner, procs, err := readOwner(prefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if owner.pid != 0 && owner.alive() {
			continue
		}
		for _, p := range procs {
			if p.alive() {
				if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
					errs = append(errs, fmt.Errorf("kill %d: %w", p.pid, err))
				}
			}
		}
		if err := sweep(prefix); err != nil {
			errs = append(errs, fmt.Errorf("sweep lab %s: %w", prefix, err))
			continue
		}
		swept = append(swept, prefix)
	}
	return swept, errors.Join(errs...)
}
