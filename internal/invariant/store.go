package invariant

import (
	"context"
	"encoding/json"
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
	// LBs are the load balancers (not in the State: no data plane reads them).
	LBs map[string]*model.LoadBalancer
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
	snap := &Snapshot{State: s, Accounts: map[string]bool{}, IPAM: map[string]string{}, LBs: map[string]*model.LoadBalancer{}}
	for k, v := range raw {
		rel := strings.TrimPrefix(k, st.Prefix())
		kind, rest, _ := strings.Cut(rel, "/")
		switch kind {
		case store.KindAccount:
			snap.Accounts[rest] = true
		case store.KindIPAM:
			snap.IPAM[rest] = v
		case store.KindLB:
			var l model.LoadBalancer
			if json.Unmarshal([]byte(v), &l) == nil && l.Validate() == nil {
				snap.LBs[rest] = &l
			}
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
		if h.Ipv6Address.IsValid() {
			hold(h.VSwitchID, h.Ipv6Address, id)
		}
	}
	for _, ep := range st.Endpoints {
		for _, z := range ep.Zones {
			hold(z.VSwitchID, z.IP, z.EniID)
			if z.SnatIP.IsValid() {
				hold(model.SNATPoolKey, z.SnatIP, z.EniID)
			}
			if z.Ipv6Address.IsValid() {
				hold(z.VSwitchID, z.Ipv6Address, z.EniID)
			}
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
	for id, l := range s.LBs {
		parent("load balancer", id, "vpc", l.VpcID, st.VPCs[l.VpcID] != nil)
	}
	for id, svc := range st.Services {
		bad = append(bad, s.serviceLBs(id, svc)...)
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

// serviceLBs checks a service with load balancers: each exists, is its
// account's and in its VPC, and the service's ports and backends are
// theirs (load balancers do not change, so an attach's copy stays true).
func (s *Snapshot) serviceLBs(id string, svc *model.EndpointService) []string {
	if len(svc.LoadBalancerIDs) == 0 {
		return nil
	}
	var bad []string
	ports := map[int]bool{}
	backends := map[model.Backend]bool{}
	for _, lid := range svc.LoadBalancerIDs {
		l := s.LBs[lid]
		if l == nil {
			bad = append(bad, fmt.Sprintf("service %s: its load balancer %s is gone", id, lid))
			continue
		}
		if l.AccountID != svc.AccountID || l.VpcID != svc.VpcID {
			bad = append(bad, fmt.Sprintf("service %s (account %s, vpc %s): load balancer %s is of account %s in vpc %s", id, svc.AccountID, svc.VpcID, lid, l.AccountID, l.VpcID))
		}
		for _, p := range l.Ports {
			ports[p] = true
		}
		for _, b := range l.Backends {
			backends[b] = true
		}
	}
	if len(bad) > 0 {
		return bad
	}
	same := len(ports) == len(svc.Ports) && len(backends) == len(svc.Resources)
	for _, p := range svc.Ports {
		same = same && ports[p]
	}
	for _, b := range svc.Resources {
		same = same && backends[b]
	}
	if !same {
		bad = append(bad, fmt.Sprintf("service %s: ports %v and backends %v are not those of its load balancers %v", id, svc.Ports, svc.Resources, svc.LoadBalancerIDs))
	}
	return bad
}
