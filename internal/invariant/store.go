package invariant

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Snapshot is one consistent read of the store: the decoded records and
// the keys the State does not hold (accounts, address allocations).
type Snapshot struct {
	State    *store.State
	Accounts map[string]bool
	// IPAM maps "<vSwitchId>/<ip>" to the ID of the record that owns it.
	IPAM map[string]string
}

// Read takes a snapshot. The two reads are not one revision: use it when
// no writer runs, or re-read before reporting a violation.
func Read(ctx context.Context, st *store.Store) (*Snapshot, error) {
	s, err := st.ReadState(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := st.Dump(ctx)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{State: s, Accounts: map[string]bool{}, IPAM: map[string]string{}}
	for k, v := range raw {
		rel := strings.TrimPrefix(k, st.Prefix())
		kind, rest, _ := strings.Cut(rel, "/")
		switch kind {
		case store.KindAccount:
			snap.Accounts[rest] = true
		case store.KindIPAM:
			snap.IPAM[rest] = v
		}
	}
	return snap, nil
}

func ipamID(vswID string, ip netip.Addr) string { return vswID + "/" + ip.String() }

// Check returns every violation of the store's invariants.
func (s *Snapshot) Check() []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, fmt.Sprintf(format, a...)) }
	st := s.State
	// Revocation: Connected only for the owner or an allow-listed account.
	for id, ep := range st.Endpoints {
		if ep.ConnectionStatus != model.ConnConnected {
			continue
		}
		svc := st.Services[ep.ServiceID]
		if svc == nil || !admits(svc, ep.AccountID) {
			add("endpoint %s of account %s is Connected to service %s, which does not admit it", id, ep.AccountID, ep.ServiceID)
		}
	}
	// Addresses: every record's address is allocated to it, and every
	// allocation belongs to a record that holds that address.
	holders := map[string]string{}
	hold := func(vswID string, ip netip.Addr, owner string) {
		k := ipamID(vswID, ip)
		if prev, dup := holders[k]; dup {
			add("address %s of vSwitch %s is held by both %s and %s", ip, vswID, prev, owner)
		}
		holders[k] = owner
		if got, ok := s.IPAM[k]; !ok {
			add("%s holds %s on vSwitch %s, which is not allocated", owner, ip, vswID)
		} else if got != owner {
			add("%s holds %s on vSwitch %s, which is allocated to %s", owner, ip, vswID, got)
		}
	}
	for id, h := range st.Hosts {
		hold(h.VSwitchID, h.IP, id)
	}
	for _, ep := range st.Endpoints {
		for _, z := range ep.Zones {
			hold(z.VSwitchID, z.IP, z.EniID)
		}
	}
	for k, owner := range s.IPAM {
		if holders[k] != owner {
			add("address %s is allocated to %s, which does not hold it", k, owner)
		}
	}
	// Parents.
	parent := func(kind, id, pkind, pid string, ok bool) {
		if !ok {
			add("%s %s: its %s %s is gone", kind, id, pkind, pid)
		}
	}
	for id, v := range st.VPCs {
		parent("vpc", id, "account", v.AccountID, s.Accounts[v.AccountID])
	}
	for id, v := range st.VSwitches {
		parent("vSwitch", id, "vpc", v.VpcID, st.VPCs[v.VpcID] != nil)
	}
	for id, g := range st.SGs {
		parent("security group", id, "vpc", g.VpcID, st.VPCs[g.VpcID] != nil)
	}
	for id, h := range st.Hosts {
		parent("host", id, "vSwitch", h.VSwitchID, st.VSwitches[h.VSwitchID] != nil)
	}
	for id, svc := range st.Services {
		parent("service", id, "account", svc.AccountID, s.Accounts[svc.AccountID])
		if svc.VpcID != "" {
			parent("service", id, "vpc", svc.VpcID, st.VPCs[svc.VpcID] != nil)
		}
	}
	for id, ep := range st.Endpoints {
		parent("endpoint", id, "vpc", ep.VpcID, st.VPCs[ep.VpcID] != nil)
		if ep.ConnectionStatus != model.ConnServiceDeleted {
			parent("endpoint", id, "service", ep.ServiceID, st.Services[ep.ServiceID] != nil)
		}
		for _, g := range ep.SecurityGroupIDs {
			parent("endpoint", id, "security group", g, st.SGs[g] != nil)
		}
		for _, z := range ep.Zones {
			parent("endpoint", id, "vSwitch", z.VSwitchID, st.VSwitches[z.VSwitchID] != nil)
		}
	}
	sort.Strings(bad)
	return bad
}
