//go:build !linux

package proxy

import (
	"errors"
	"net/netip"
)

// engine is Linux-only; elsewhere every Listener runs on goroutines.
type engine struct{}

func (*engine) stop(*Listener) (int, error) { return 0, nil }

// Socket is unavailable off Linux.
func Socket(netip.AddrPort) (int, netip.AddrPort, error) {
	return -1, netip.AddrPort{}, errors.ErrUnsupported
}

func (l *Listener) startEngine() (bool, error) { return false, nil }

func sharedEngine() (*engine, error) { return nil, errors.ErrUnsupported }

// BudgetFromRlimit: off Linux the descriptor limit is not read; the Budget
// is 65536 descriptors less reserve.
func BudgetFromRlimit(reserve int) (*Budget, error) { return NewBudget(65536 - reserve), nil }

// StartMany: off Linux no Listener runs on an engine, so none starts;
// each needs Serve (errs[i]: one that may not be started at all).
func StartMany(ls []*Listener) ([]bool, []error) {
	started, errs := make([]bool, len(ls)), make([]error, len(ls))
	for i, l := range ls {
		l.mu.Lock()
		errs[i] = l.startable()
		l.mu.Unlock()
	}
	return started, errs
}
