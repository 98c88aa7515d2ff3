package agent

import (
	"context"
	"time"

	"github.com/privlink/privlink/internal/netdrv"
	"github.com/privlink/privlink/internal/store"
)

// prune removes what the store no longer has but the machine still does:
// objects deleted while no agent was running. What a bad record (one that
// does not decode or validate) might describe is left alone. It runs once, at the first
// reconcile, and touches only resources absent from the whole store, so
// agents of other zones on the same machine lose nothing. The store is read
// after the inventory is taken: everything on the machine was in the store
// before it was built, so only what was deleted is missing from that read.
func (a *Agent) prune(ctx context.Context) {
	drv := a.cfg.Driver.Topology
	have, err := drv.Inventory()
	if err != nil {
		a.log.Warn("inventory for pruning", "err", err)
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := a.cfg.Cache.Reread(rctx)
	cancel()
	if err != nil {
		a.log.Warn("read store for pruning", "err", err)
		return
	}
	used := map[netdrv.ENIRef]bool{}
	for _, ep := range st.Endpoints {
		for _, z := range ep.Zones {
			used[netdrv.ENIRef{VpcID: ep.VpcID, VSwitchID: z.VSwitchID, IP: z.IP}] = true
			if z.Ipv6Address.IsValid() {
				used[netdrv.ENIRef{VpcID: ep.VpcID, VSwitchID: z.VSwitchID, IP: z.Ipv6Address}] = true
			}
		}
	}
	a.found = map[eniKey]bool{}
	for _, e := range have.ENIs {
		if !used[e] && !st.BadKind(store.KindEndpoint) {
			a.logPrune("eni", e.IP.String(), drv.RemoveENI(e.VpcID, e.VSwitchID, e.IP))
		} else {
			a.found[eniKey(e)] = true
		}
	}
	for _, id := range have.Hosts {
		if st.Hosts[id] == nil && !st.Bad(store.KindHost, id) {
			a.logPrune("host", id, drv.DeleteHost(id))
		}
	}
	for _, v := range have.VSwitches {
		if st.VSwitches[v.VSwitchID] == nil && !st.Bad(store.KindVSwitch, v.VSwitchID) {
			a.logPrune("vswitch", v.VSwitchID, drv.DeleteVSwitch(v.VpcID, v.VSwitchID))
		}
	}
	for _, id := range have.VPCs {
		if st.VPCs[id] == nil && !st.Bad(store.KindVPC, id) {
			a.logPrune("vpc", id, drv.DeleteVPC(id))
		} else {
			// Still in the store: whichever zone wants it, this agent
			// removes it too once it is deleted (see apply).
			a.kept[id] = st.Rev
		}
	}
}

func (a *Agent) logPrune(kind, id string, err error) {
	if err != nil {
		a.log.Warn("prune leftover", "kind", kind, "id", id, "err", err)
		return
	}
	a.log.Info("pruned leftover", "kind", kind, "id", id)
}
