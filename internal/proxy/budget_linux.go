//go:build linux

package proxy

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// BudgetFromRlimit raises the soft RLIMIT_NOFILE to the hard limit if it is
// lower (Go's runtime does so at start too) and returns the Budget left
// after reserve descriptors for the rest of the process (at most a quarter
// of the limit) and the engine's idle pipes (freePipes per loop, 2
// descriptors each). The error, if any, says the limit could not be read;
// the Budget is then computed from 1024.
func BudgetFromRlimit(reserve int) (*Budget, error) {
	var lim unix.Rlimit
	err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	if err != nil {
		lim = unix.Rlimit{Cur: 1024, Max: 1024}
		err = fmt.Errorf("proxy: read RLIMIT_NOFILE: %w", err)
	} else if lim.Cur < lim.Max {
		raised := unix.Rlimit{Cur: lim.Max, Max: lim.Max}
		if e := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); e == nil {
			lim = raised
		}
	}
	return NewBudget(budgetFDs(int(min(lim.Cur, 1<<30)), reserve)), err
}

// budgetFDs is what a limit of nofile leaves the data plane.
func budgetFDs(nofile, reserve int) int {
	reserve = min(max(reserve, 0), nofile/4)
	return nofile - reserve - engineLoops()*freePipes*2
}
