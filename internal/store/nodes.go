package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/privlink/privlink/internal/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Nodes, VNIs and the default node (docs/design/multinode.md §2): the
// writes that belong to no single API resource.

// getRaw reads a key's raw value and mod revision (0, "" when absent).
func (s *Store) getRaw(ctx context.Context, key string) (string, int64, error) {
	r, err := s.cli.Get(ctx, key)
	if err != nil {
		return "", 0, fmt.Errorf("get %s: %w", key, err)
	}
	if len(r.Kvs) == 0 {
		return "", 0, nil
	}
	return string(r.Kvs[0].Value), r.Kvs[0].ModRevision, nil
}

// maxVNISkips bounds how many VNIs still in use one allocation skips
// (only after the counter wrapped around).
const maxVNISkips = 1000

// AllocVNI adds to t the allocation of a VNI to vpcID and returns it: the
// next number of meta/vninext (absent: model.FirstAutoVNI) whose vni/ key
// is free, with compare-and-swap on the counter, so two API servers never
// hand out one VNI and the counter only grows (a VNI is not reused until
// it wraps after MaxVNI). Call it from a store.Create build: a lost race
// fails the compare and the build runs again.
func (s *Store) AllocVNI(ctx context.Context, t *Txn, vpcID string) (int, error) {
	v, rev, err := s.getRaw(ctx, s.VNINextKey())
	if err != nil {
		return 0, err
	}
	n := model.FirstAutoVNI
	if v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return 0, fmt.Errorf("bad record %s: %q is not a VNI", s.VNINextKey(), v)
		}
	}
	for skips := 0; ; skips++ {
		if n > model.MaxVNI || n < model.FirstAutoVNI {
			n = model.FirstAutoVNI
		}
		owner, _, err := s.getRaw(ctx, s.VNIKey(n))
		if err != nil {
			return 0, err
		}
		if owner == "" {
			break
		}
		if skips >= maxVNISkips {
			return 0, model.Errorf(409, "QuotaExceeded.Vni", "no free VNI found after %d tries", maxVNISkips)
		}
		n++
	}
	t.Unchanged(s.VNINextKey(), rev).Put(s.VNINextKey(), n+1).Claim(s.VNIKey(n), vpcID)
	return n, nil
}

// NodeRegistration is what a node's agent registers.
type NodeRegistration struct {
	Name   string
	ZoneID string
	// UnderlayAddr is the zero Addr for a node without overlay (the
	// single-node default).
	UnderlayAddr netip.Addr
}

// RegisterNode creates the node's permanent registration with the lowest
// free index (nodereg/ and nodeidx/ in one transaction), or updates the
// zone and underlay address of an existing one (its index never changes).
// It refuses a zone change while the node holds hosts or ENIs
// (InvalidNode.ZoneInUse) and a second node when one of the two has no
// underlay address (InvalidNode.NoUnderlay).
func (s *Store) RegisterNode(ctx context.Context, r NodeRegistration) (model.NodeReg, error) {
	if !model.ValidNodeName(r.Name) {
		return model.NodeReg{}, model.Invalid("NodeName", "%q is not a node name (1-63 letters, digits, '.', '_', '-')", r.Name)
	}
	if r.ZoneID == "" {
		return model.NodeReg{}, model.Invalid("ZoneId", "a node needs a zone")
	}
	if r.UnderlayAddr.IsValid() && !r.UnderlayAddr.Is4() {
		return model.NodeReg{}, model.Invalid("UnderlayAddr", "%v is not an IPv4 address", r.UnderlayAddr)
	}
	var out model.NodeReg
	err := Retry(ctx, func() error {
		regs, rev, err := ListRecords[model.NodeReg](ctx, s, s.KindPrefix(KindNodeReg))
		if err != nil {
			return err
		}
		var cur *Record[model.NodeReg]
		for i := range regs {
			if regs[i].Value.Name == r.Name {
				cur = &regs[i]
			} else if !regs[i].Value.UnderlayAddr.IsValid() || !r.UnderlayAddr.IsValid() {
				return model.Errorf(409, "InvalidNode.NoUnderlay",
					"node %q cannot join node %q: a region of several nodes needs every node's --underlay-addr (restart the server with --underlay-addr)",
					r.Name, regs[i].Value.Name)
			}
		}
		t := s.NewTxn().NoneCreatedAfter(s.KindPrefix(KindNodeReg), rev)
		if cur != nil {
			reg := cur.Value
			if reg.ZoneID != r.ZoneID {
				if err := s.refuseIfHolding(ctx, t, reg.Name, "change its zone"); err != nil {
					return err
				}
			}
			reg.ZoneID, reg.UnderlayAddr = r.ZoneID, r.UnderlayAddr
			t.Unchanged(cur.Key, cur.Rev).Put(cur.Key, reg)
			return s.commitOrConflict(ctx, t, func() { out = reg })
		}
		used, err := s.Keys(ctx, s.KindPrefix(KindNodeIdx))
		if err != nil {
			return err
		}
		taken := map[string]bool{}
		for _, k := range used {
			taken[k] = true
		}
		idx := 1
		for taken[strconv.Itoa(idx)] {
			idx++
		}
		if idx > model.MaxNodeIndex {
			return model.Errorf(409, "QuotaExceeded.Node", "the region has %d nodes, the most it can hold", model.MaxNodeIndex)
		}
		reg := model.NodeReg{Name: r.Name, ZoneID: r.ZoneID, UnderlayAddr: r.UnderlayAddr, Index: idx,
			OverlayAddr: model.OverlayAddr(idx), Registered: time.Now().UTC().Format(time.RFC3339)}
		t.Claim(s.NodeIdxKey(idx), r.Name).Create(s.NodeRegKey(r.Name), reg)
		return s.commitOrConflict(ctx, t, func() { out = reg })
	})
	return out, err
}

// refuseIfHolding fails when hosts or ENI placements name the node, and
// otherwise guards t on that staying so (no host index created under it).
func (s *Store) refuseIfHolding(ctx context.Context, t *Txn, node, what string) error {
	n, rev, err := s.CountAt(ctx, s.HostNodePrefix(node))
	if err != nil {
		return err
	}
	if n > 0 {
		return model.Errorf(409, "InvalidNode.ZoneInUse", "cannot %s of node %q: it holds %d hosts", what, node, n)
	}
	places, err := List[model.ENIPlacement](ctx, s, s.KindPrefix(KindENIPlace))
	if err != nil {
		return err
	}
	held := 0
	for _, p := range places {
		if p.Node == node {
			held++
		}
	}
	if held > 0 {
		return model.Errorf(409, "InvalidNode.ZoneInUse", "cannot %s of node %q: it serves %d endpoint IPs", what, node, held)
	}
	t.NoneCreatedAfter(s.HostNodePrefix(node), rev)
	return nil
}

// commitOrConflict commits t, runs ok on success, and turns a failed
// compare into ErrConflict (for Retry).
func (s *Store) commitOrConflict(ctx context.Context, t *Txn, ok func()) error {
	done, err := t.Commit(ctx)
	if err != nil {
		return err
	}
	if !done {
		return ErrConflict
	}
	ok()
	return nil
}

// DeleteNode removes a node's registration and index, refusing
// (InvalidNode.InUse, 409) while hosts or ENI placements name it or it is
// ready (its liveness record exists). It returns ErrNotFound for an
// unknown node.
func (s *Store) DeleteNode(ctx context.Context, name string) (model.NodeReg, error) {
	var out model.NodeReg
	err := Retry(ctx, func() error {
		reg, rev, err := Get[model.NodeReg](ctx, s, s.NodeRegKey(name))
		if err != nil {
			return err
		}
		t := s.NewTxn()
		if err := s.refuseIfHolding(ctx, t, name, "delete the registration"); err != nil {
			var me *model.Error
			if errors.As(err, &me) {
				me.Code = "InvalidNode.InUse"
			}
			return err
		}
		if err := s.refuseIfDefaultWithHosts(ctx, name); err != nil {
			return err
		}
		if _, nrev, err := s.getRaw(ctx, s.NodeKey(name)); err != nil {
			return err
		} else if nrev != 0 {
			return model.Errorf(409, "InvalidNode.InUse", "node %q is ready: stop its agent first", name)
		}
		t.Unchanged(s.NodeKey(name), 0)
		t.Unchanged(s.NodeRegKey(name), rev).Delete(s.NodeRegKey(name)).Delete(s.NodeIdxKey(reg.Index))
		return s.commitOrConflict(ctx, t, func() { out = reg })
	})
	return out, err
}

// refuseIfDefaultWithHosts fails when node is the default node and hosts
// from before nodes (no nodeName) exist: they live on it. (No such host can
// be created while any node is registered, so this needs no guard.)
func (s *Store) refuseIfDefaultWithHosts(ctx context.Context, node string) error {
	def, err := s.DefaultNode(ctx)
	if err != nil || def != node {
		return err
	}
	hosts, err := List[model.Host](ctx, s, s.KindPrefix(KindHost))
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if h.NodeName == "" {
			return model.Errorf(409, "InvalidNode.InUse", "node %q is the default node and holds host %s (created before nodes existed)", node, h.HostID)
		}
	}
	return nil
}

// MarkNodeNotReady stamps when a node stopped being ready (the placement
// controller's write, once per outage): an existing stamp is kept, and a
// ready node is left alone.
func (s *Store) MarkNodeNotReady(ctx context.Context, name string, since time.Time) error {
	_, err := Update(ctx, s, s.NodeRegKey(name), func(reg *model.NodeReg, t *Txn) error {
		if reg.NotReadySince == "" {
			reg.NotReadySince = since.UTC().Format(time.RFC3339)
		}
		t.Unchanged(s.NodeKey(name), 0)
		return nil
	})
	return err
}

// EnsureDefaultNode records name in meta/defaultnode unless a node is
// recorded there already, and returns the recorded one: hosts created
// before nodes existed (no nodeName) belong to it.
func (s *Store) EnsureDefaultNode(ctx context.Context, name string) (string, error) {
	if !model.ValidNodeName(name) {
		return "", fmt.Errorf("default node: %q is not a node name", name)
	}
	key := s.DefaultNodeKey()
	r, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, name)).Else(clientv3.OpGet(key)).Commit()
	s.wrote(err)
	if err != nil {
		return "", fmt.Errorf("default node: %w", err)
	}
	if r.Succeeded {
		return name, nil
	}
	return string(r.Responses[0].GetResponseRange().Kvs[0].Value), nil
}

// DefaultNode returns the node recorded in meta/defaultnode ("" if none).
func (s *Store) DefaultNode(ctx context.Context) (string, error) {
	v, _, err := s.getRaw(ctx, s.DefaultNodeKey())
	return v, err
}
