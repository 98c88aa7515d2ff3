package store

import (
	"context"
	"io"
	"net/netip"

	"github.com/privlink/privlink/internal/model"
)

// IPv6CIDRKey indexes a VPC's IPv6 /56 (key ip6cidr/<address>/<vpcId>).
func (s *Store) IPv6CIDRKey(p netip.Prefix, vpcID string) string {
	return s.key(KindIPv6CIDR, p.Addr().String(), vpcID)
}

// ipv6CIDRPrefix is the prefix of every VPC's index entry for p.
func (s *Store) ipv6CIDRPrefix(p netip.Prefix) string {
	return s.key(KindIPv6CIDR, p.Addr().String()) + "/"
}

// maxIPv6Tries bounds the random /56s one allocation draws before it gives
// up (with 2^40 global IDs, a second draw is already rare).
const maxIPv6Tries = 8

// AllocIPv6CIDR adds to t the allocation of a random ULA /56
// (model.RandomULA56, randomness from rnd) to vpcID and returns it: one
// that no VPC of the region has (read now, and guarded in t by
// NoneUnder, so two API servers racing on one /56 cannot both commit: the
// loser's build runs again and draws anew). Call it from a store.Create
// build.
func (s *Store) AllocIPv6CIDR(ctx context.Context, t *Txn, vpcID string, rnd io.Reader) (netip.Prefix, error) {
	for range maxIPv6Tries {
		p, err := model.RandomULA56(rnd)
		if err != nil {
			return netip.Prefix{}, err
		}
		n, err := s.Count(ctx, s.ipv6CIDRPrefix(p))
		if err != nil {
			return netip.Prefix{}, err
		}
		if n == 0 {
			t.NoneUnder(s.ipv6CIDRPrefix(p)).Index(s.IPv6CIDRKey(p, vpcID))
			return p, nil
		}
	}
	return netip.Prefix{}, model.Errorf(409, "QuotaExceeded.Ipv6CidrBlock", "no free IPv6 /56 found after %d random draws", maxIPv6Tries)
}

// AddIPv6CIDR adds to t the index entry of a user-given /56: VPCs may
// share one (their networks are apart), so nothing is checked; it only
// keeps AllocIPv6CIDR from choosing it.
func (s *Store) AddIPv6CIDR(t *Txn, p netip.Prefix, vpcID string) {
	t.Index(s.IPv6CIDRKey(p, vpcID))
}
