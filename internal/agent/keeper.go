package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/privlink/privlink/internal/handoff"
)

// An agent under a socket keeper (Config.Keeper, package keeper) reports
// each listening socket it opens or closes and each new lease, so that
// the keeper's next worker, after a crash, takes them over.

// socketKey names sp's listening socket for a handoff or the keeper.
func socketKey(proto string, sp listenerSpec) string {
	return handoff.Key(proto, sp.eni.VpcID, sp.addr)
}

// keep reports opened sockets to the keeper, if any.
func (a *Agent) keep(socks []handoff.Socket) {
	if a.cfg.Keeper != nil && len(socks) > 0 {
		a.cfg.Keeper.Keep(socks)
	}
}

// drop reports a closed socket to the keeper, if any.
func (a *Agent) drop(proto string, sp listenerSpec) {
	if a.cfg.Keeper != nil {
		a.cfg.Keeper.Drop([]string{socketKey(proto, sp)})
	}
}

// ensureLease is Lease.Ensure that also counts a lease resumeLease was
// granted, and reports each new lease to the keeper.
func (a *Agent) ensureLease(ctx context.Context) (fresh bool, err error) {
	fresh, err = a.lease.Ensure(ctx)
	if err != nil {
		return false, err
	}
	fresh = fresh || a.leaseNew
	a.leaseNew = false
	a.reportLease()
	return fresh, nil
}

func (a *Agent) reportLease() {
	if id := a.lease.ID(); a.cfg.Keeper != nil && id != 0 && id != a.keptLease {
		a.cfg.Keeper.SetLease(id)
		a.keptLease = id
	}
}

// resumeLease resumes an adopted lease (Config.AdoptLease) before the
// first round instead of after it: a predecessor that died (a socket
// keeper's worker) no longer keeps it alive, and a first round over
// 10,000 endpoints takes longer than the lease's few seconds. If it has
// expired, a new one is granted and the first report writes everything.
func (a *Agent) resumeLease(ctx context.Context) {
	if !a.adopting {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	fresh, err := a.lease.Ensure(cctx)
	switch {
	case err != nil:
		a.log.Warn("resume the predecessor's lease (the first report tries again)", "err", err)
		return
	case fresh:
		a.log.Info("the predecessor's lease had expired: granted a new one", "lease", fmt.Sprintf("%x", a.lease.ID()))
		a.adopting, a.leaseNew = false, true
	default:
		a.log.Info("resumed the predecessor's lease", "lease", fmt.Sprintf("%x", a.lease.ID()))
	}
	a.reportLease()
}
