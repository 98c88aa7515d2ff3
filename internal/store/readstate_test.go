package store

import (
	"context"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestReadStateOneRevision: ReadState reads its kinds concurrently, yet at
// one revision, and keeps every kind's bad records: while a writer puts a
// good VPC and a bad security group together in one transaction, every
// read holds either both of a pair (the VPC, the group marked bad) or
// neither.
func TestReadStateOneRevision(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const pairs = 60
	done := make(chan error, 1)
	go func() {
		for i := range pairs {
			id := vpcID(fmt.Sprintf("pair-%d", i))
			_, err := s.cli.Txn(ctx).Then(
				clientv3.OpPut(s.ResourceKey(KindVPC, id), MustJSON(testVPC(fmt.Sprintf("pair-%d", i)))),
				clientv3.OpPut(s.ResourceKey(KindSG, id), "not json")).Commit()
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	check := func() (n int) {
		st, err := s.ReadState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range pairs {
			id := vpcID(fmt.Sprintf("pair-%d", i))
			vpc, bad := st.VPCs[id] != nil, st.Bad(KindSG, id)
			if vpc != bad {
				t.Fatalf("pair %d at rev %d: VPC %v, bad group %v: not one revision", i, st.Rev, vpc, bad)
			}
			if vpc {
				n++
			}
		}
		return n
	}
	for reads := 0; ; reads++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if n := check(); n != pairs {
				t.Fatalf("after the writes: %d pairs, want %d", n, pairs)
			}
			t.Logf("%d reads during the writes", reads)
			return
		default:
			check()
		}
	}
}
