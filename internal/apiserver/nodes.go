package apiserver

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Nodes: the admin's view of the region's machines, and where a new host
// goes (docs/design/multinode.md §2).

// listNodes joins registrations, liveness records, hosts and ENI
// placements; hosts without nodeName (from before nodes) count for the
// node in meta/defaultnode.
func (a *API) listNodes(r *http.Request) (any, error) {
	st, err := a.st.ReadState(r.Context(), store.KindNodeReg, store.KindNode, store.KindENIPlace, store.KindHost)
	if err != nil {
		return nil, err
	}
	def, err := a.st.DefaultNode(r.Context())
	if err != nil {
		return nil, err
	}
	enis, hosts := map[string]int{}, map[string]int{}
	for _, p := range st.Placements {
		enis[p.Node]++
	}
	for _, h := range st.Hosts {
		hosts[store.HostNode(h, def)]++
	}
	items := make([]api.Node, 0, len(st.NodeRegs))
	for _, reg := range st.NodeRegs {
		n := api.Node{Name: reg.Name, ZoneID: reg.ZoneID, OverlayAddr: reg.OverlayAddr.String(), Index: reg.Index,
			Status: model.NodeNotReady, NotReadySince: reg.NotReadySince, Registered: reg.Registered,
			Hosts: hosts[reg.Name], ENIs: enis[reg.Name]}
		if reg.UnderlayAddr.IsValid() {
			n.UnderlayAddr = reg.UnderlayAddr.String()
		}
		if ns := st.Nodes[reg.Name]; ns != nil {
			n.Status, n.NotReadySince = model.NodeReady, ""
			n.Version, n.Hostname, n.VPCMTU = ns.Version, ns.Hostname, ns.VPCMTU
		}
		items = append(items, n)
	}
	return paginate(r, items, func(n api.Node) string { return n.Name })
}

// deleteNode removes a node's registration once it is neither ready nor
// holding anything.
func (a *API) deleteNode(r *http.Request) (any, error) {
	name := r.PathValue("name")
	if !model.ValidNodeName(name) {
		return nil, model.NotFound("Node", name)
	}
	reg, err := a.st.DeleteNode(r.Context(), name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, model.NotFound("Node", name)
	case err != nil:
		return nil, deleteErr(err)
	}
	n := api.Node{Name: reg.Name, ZoneID: reg.ZoneID, OverlayAddr: reg.OverlayAddr.String(), Index: reg.Index,
		Status: model.NodeNotReady, NotReadySince: reg.NotReadySince, Registered: reg.Registered}
	if reg.UnderlayAddr.IsValid() {
		n.UnderlayAddr = reg.UnderlayAddr.String()
	}
	return n, nil
}

// placeHost picks the node of a new host in zone and adds the guards that
// keep the choice valid at commit: want, or the least loaded ready node of
// the zone (ties by name). A region with no registered node at all (before
// any node agent ran) places nothing: the host gets no nodeName and so
// belongs to meta/defaultnode, as every host did before nodes existed.
func (a *API) placeHost(ctx context.Context, t *store.Txn, zone, want string) (string, error) {
	if want != "" && !model.ValidNodeName(want) {
		return "", model.Invalid("NodeName", "%q is not a node name", want)
	}
	regs, rev, err := store.ListRecords[model.NodeReg](ctx, a.st, a.st.KindPrefix(store.KindNodeReg))
	if err != nil {
		return "", err
	}
	if len(regs) == 0 && want == "" {
		t.NoneCreatedAfter(a.st.KindPrefix(store.KindNodeReg), rev)
		return "", nil
	}
	ready, err := a.st.Keys(ctx, a.st.KindPrefix(store.KindNode))
	if err != nil {
		return "", err
	}
	pick, load := "", int64(-1)
	for _, rec := range regs {
		reg := rec.Value
		switch {
		case want != "" && reg.Name != want:
			continue
		case want != "" && reg.ZoneID != zone:
			return "", model.Errorf(http.StatusBadRequest, "InvalidNode.ZoneMismatch", "node %q is in zone %s, the vSwitch in %s", want, reg.ZoneID, zone)
		case want != "" && !slices.Contains(ready, want):
			return "", model.Errorf(http.StatusConflict, "InvalidNode.NotReady", "node %q is not ready", want)
		case reg.ZoneID != zone || !slices.Contains(ready, reg.Name):
			continue
		}
		n, err := a.st.Count(ctx, a.st.HostNodePrefix(reg.Name))
		if err != nil {
			return "", err
		}
		if pick == "" || n < load || n == load && reg.Name < pick {
			pick, load = reg.Name, n
		}
	}
	switch {
	case pick == "" && want != "":
		return "", model.Errorf(http.StatusNotFound, "InvalidNode.NotFound", "node %q is not registered", want)
	case pick == "":
		return "", model.Errorf(http.StatusConflict, "Zone.NoReadyNode", "no node of zone %s is ready to hold the host", zone)
	}
	t.Exists(a.st.NodeKey(pick)).Exists(a.st.NodeRegKey(pick))
	return pick, nil
}
