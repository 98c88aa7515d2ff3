package store

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/privlink/privlink/internal/model"
)

// TestAllocIPv6CIDR: a /56 some VPC already has (auto or user-given) is
// not handed out again: the allocation draws anew; two transactions that
// drew the same /56 cannot both commit; after maxIPv6Tries taken draws the
// allocation fails with a code.
func TestAllocIPv6CIDR(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a := []byte{1, 1, 1, 1, 1}
	b := []byte{2, 2, 2, 2, 2}
	draws := func(ids ...[]byte) *bytes.Reader { return bytes.NewReader(bytes.Join(ids, nil)) }

	t1 := s.NewTxn()
	p1, err := s.AllocIPv6CIDR(ctx, t1, "vpc-one", draws(a))
	if err != nil || p1.String() != "fd01:101:101::/56" {
		t.Fatalf("first: %v %v", p1, err)
	}
	// A second transaction built before the first commits draws the same.
	t2 := s.NewTxn()
	p2, err := s.AllocIPv6CIDR(ctx, t2, "vpc-two", draws(a))
	if err != nil || p2 != p1 {
		t.Fatalf("second: %v %v", p2, err)
	}
	if ok, err := t1.Commit(ctx); !ok || err != nil {
		t.Fatalf("commit first: %v %v", ok, err)
	}
	if ok, err := t2.Commit(ctx); ok || err != nil {
		t.Fatalf("the second allocation of %s committed too (%v, %v)", p2, ok, err)
	}
	// Rebuilt, it skips the taken /56.
	t2 = s.NewTxn()
	if p2, err = s.AllocIPv6CIDR(ctx, t2, "vpc-two", draws(a, b)); err != nil || p2.String() != "fd02:202:202::/56" {
		t.Fatalf("rebuilt: %v %v", p2, err)
	}
	if ok, err := t2.Commit(ctx); !ok || err != nil {
		t.Fatalf("commit rebuilt: %v %v", ok, err)
	}
	// A user-given /56 is indexed (others may share it) and not drawn.
	user, _ := model.ParseVPCIPv6CIDR("fd03:303:303::/56")
	for _, vpc := range []string{"vpc-three", "vpc-four"} {
		t3 := s.NewTxn()
		s.AddIPv6CIDR(t3, user, vpc)
		if ok, err := t3.Commit(ctx); !ok || err != nil {
			t.Fatalf("user-given for %s: %v %v", vpc, ok, err)
		}
	}
	var many [][]byte
	for range maxIPv6Tries {
		many = append(many, a, b, []byte{3, 3, 3, 3, 3})
	}
	var e *model.Error
	if _, err := s.AllocIPv6CIDR(ctx, s.NewTxn(), "vpc-five", draws(many...)); !errors.As(err, &e) || e.Code != "QuotaExceeded.Ipv6CidrBlock" {
		t.Fatalf("only taken /56s drawn: %v", err)
	}
}
