package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/model"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// ENI placements, the nodes' readiness stamps, VNI backfill and the
// placement controller's leader election (docs/design/multinode.md §2,
// §4.1, §4.2): the writes of internal/controller's placement controller.
//
// A placement's epoch is its key's mod revision: the State carries it in
// ENIPlacement.Epoch, every write of a placement is a compare-and-swap on
// it, and a node's report counts only for the current one.

// stampEpoch copies a just-applied placement's mod revision into its Epoch.
func (s *State) stampEpoch(rel string, rev int64) {
	kind, id, _ := relKind(rel)
	if kind != KindENIPlace {
		return
	}
	if p := s.Placements[id]; p != nil && p.Epoch != rev {
		c := *p
		c.Epoch = rev
		s.Placements[id] = &c
	}
}

// zoneLiveness says whether an endpoint zone is served and which report
// counts: by its placement's node when it has a placement, else by its
// zone agent (the single-machine rule).
func (s *State) zoneLiveness(zoneID, endpointID string) (bool, *model.ZoneReport) {
	rep := s.Report(zoneID, endpointID)
	if p := s.Placement(endpointID, zoneID); p != nil {
		return model.PlacedZone(p, s.Nodes[p.Node], rep)
	}
	return s.Agents[zoneID] != nil, rep
}

// ReportLive reports whether a zone report comes from whoever serves its
// endpoint zone now (a live zone agent, or the placement's node for the
// current epoch), so its backend health may be believed.
func (s *State) ReportLive(rep *model.ZoneReport) bool {
	_, cur := s.zoneLiveness(rep.ZoneID, rep.EndpointID)
	return cur == rep && (s.Placement(rep.EndpointID, rep.ZoneID) != nil || s.Agents[rep.ZoneID] != nil)
}

// SplitPlacementID splits a State.Placements key into endpoint and zone.
func SplitPlacementID(id string) (endpointID, zoneID string, ok bool) {
	return strings.Cut(id, "/")
}

// PutPlacement writes an endpoint zone's placement if its epoch is still
// epoch (0: the placement must not exist yet), the endpoint still exists
// and, when p names a node, that node is still ready. It returns the
// revision written, or 0 when a guard failed (nothing written: plan again
// from a newer state).
func (s *Store) PutPlacement(ctx context.Context, endpointID, zoneID string, epoch int64, p model.ENIPlacement) (int64, error) {
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("placement %s/%s: %w", endpointID, zoneID, err)
	}
	key := s.ENIPlacementKey(endpointID, zoneID)
	t := s.NewTxn().Unchanged(key, epoch).Exists(s.ResourceKey(KindEndpoint, endpointID)).Put(key, p)
	if p.Node != "" {
		t.Exists(s.NodeKey(p.Node))
	}
	return t.CommitRev(ctx)
}

// DeletePlacement removes an endpoint zone's placement if its epoch is
// still epoch; it returns the revision written, or 0 when it changed.
func (s *Store) DeletePlacement(ctx context.Context, endpointID, zoneID string, epoch int64) (int64, error) {
	key := s.ENIPlacementKey(endpointID, zoneID)
	return s.NewTxn().Unchanged(key, epoch).Delete(key).CommitRev(ctx)
}

// MarkNodeReady clears a ready node's NotReadySince (so its next outage is
// stamped afresh); a node that is not ready, or has no stamp, is left alone.
func (s *Store) MarkNodeReady(ctx context.Context, name string) error {
	_, err := Update(ctx, s, s.NodeRegKey(name), func(reg *model.NodeReg, t *Txn) error {
		reg.NotReadySince = ""
		t.Exists(s.NodeKey(name))
		return nil
	})
	return err
}

// errHasVNI stops a backfill of a VPC that has a VNI already.
var errHasVNI = errors.New("the VPC has a VNI")

// BackfillVNI gives a VPC created before VNIs existed its VNI, allocated
// as at VPC create (AllocVNI). It returns 0 when the VPC has one already
// or is gone.
func (s *Store) BackfillVNI(ctx context.Context, vpcID string) (int, error) {
	var vni int
	_, err := Update(ctx, s, s.ResourceKey(KindVPC, vpcID), func(vpc *model.VPC, t *Txn) error {
		if vpc.VNI != 0 {
			return errHasVNI
		}
		n, err := s.AllocVNI(ctx, t, vpcID)
		if err != nil {
			return err
		}
		vpc.VNI, vni = n, n
		return nil
	})
	if errors.Is(err, errHasVNI) || errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return vni, err
}

// Leader is a won election: its holder acts until Lost is closed (its
// session's lease expired: another may have been elected) or it resigns.
type Leader struct {
	sess *concurrency.Session
	el   *concurrency.Election
}

// Campaign blocks until this process (id, for diagnostics) leads the
// election name (key election/<name>), with a session lease of ttl: when
// the leader dies, another campaigner takes over within about ttl.
func (s *Store) Campaign(ctx context.Context, name, id string, ttl time.Duration) (*Leader, error) {
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(max(int(ttl/time.Second), 1)), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("election %s: session: %w", name, err)
	}
	el := concurrency.NewElection(sess, s.key(KindElection, name))
	// Election.Campaign, when ctx ends, resigns with the client's context
	// and so never returns while etcd is unreachable: wait for it here
	// only until ctx ends (it returns once the client is closed).
	done := make(chan error, 1)
	go func() { done <- el.Campaign(ctx, id) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		endSession(sess)
		return nil, fmt.Errorf("election %s: campaign: %w", name, err)
	}
	return &Leader{sess: sess, el: el}, nil
}

// endSession revokes a session's lease within about a second (its keys,
// the campaign key among them, go with it); with etcd unreachable the
// lease expires on its own.
func endSession(sess *concurrency.Session) {
	sess.Orphan()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = sess.Client().Revoke(ctx, sess.Lease())
}

// Lost is closed when the leadership's session ends.
func (l *Leader) Lost() <-chan struct{} { return l.sess.Done() }

// Resign gives the leadership up and ends the session, best effort and
// within about a second (with etcd unreachable the lease simply expires).
func (l *Leader) Resign() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = l.el.Resign(ctx)
	endSession(l.sess)
}
