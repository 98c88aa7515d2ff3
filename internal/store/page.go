package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/privlink/privlink/internal/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Paged reads for the API's lists: one page of an index read as a range
// from the page token with a limit, the records of that page in a few
// requests, and the zone status of that page's endpoints only, so a list
// page costs O(page) whatever the number of keys under the prefix.

// pageOps is how many reads go in one transaction (etcd's --max-txn-ops
// is 128 by default).
const pageOps = 100

// KeysAfter returns the last path elements of at most limit keys under
// prefix that sort after prefix+after (after "": from the first), in key
// order, and whether more keys follow them. It reads only those keys.
func (s *Store) KeysAfter(ctx context.Context, prefix, after string, limit int) (ids []string, more bool, err error) {
	start := prefix
	if after != "" {
		start = prefix + after + "\x00" // the first key after prefix+after
	}
	resp, err := s.cli.Get(ctx, start, clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)),
		clientv3.WithLimit(int64(limit)), clientv3.WithKeysOnly())
	if err != nil {
		return nil, false, fmt.Errorf("list keys %s after %q: %w", prefix, after, err)
	}
	ids = make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		ids = append(ids, k[strings.LastIndexByte(k, '/')+1:])
	}
	return ids, resp.More, nil
}

// GetMany decodes the records at keys, pageOps keys a request; a key that
// is absent or holds a bad record (logged once and counted) is absent
// from the map.
func GetMany[T any](ctx context.Context, s *Store, keys []string) (map[string]T, error) {
	out := make(map[string]T, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), pageOps)
		ops := make([]clientv3.Op, n)
		for i, k := range keys[:n] {
			ops[i] = clientv3.OpGet(k)
		}
		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, fmt.Errorf("get %d records: %w", n, err)
		}
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().Kvs {
				v, err := decode[T](kv.Value)
				if err != nil {
					s.bad.report(s.prefix, string(kv.Key), kv.ModRevision, err)
					continue
				}
				out[string(kv.Key)] = *v
			}
		}
		keys = keys[n:]
	}
	return out, nil
}

// ReadZoneStatuses is ReadZoneStatus for many endpoints: the zone agents'
// and nodes' liveness records, and the reports and ENI placements of
// these endpoints' zones only, pageOps keys a request.
func (s *Store) ReadZoneStatuses(ctx context.Context, eps []model.Endpoint) (*State, error) {
	ops := []clientv3.Op{clientv3.OpGet(s.KindPrefix(KindAgent), clientv3.WithPrefix()),
		clientv3.OpGet(s.KindPrefix(KindNode), clientv3.WithPrefix())}
	for i := range eps {
		for _, z := range eps[i].Zones {
			ops = append(ops, clientv3.OpGet(s.ReportKey(z.ZoneID, eps[i].EndpointID)),
				clientv3.OpGet(s.ENIPlacementKey(eps[i].EndpointID, z.ZoneID)))
		}
	}
	st := newState()
	for len(ops) > 0 {
		n := min(len(ops), pageOps)
		resp, err := s.cli.Txn(ctx).Then(ops[:n]...).Commit()
		if err != nil {
			return nil, fmt.Errorf("read zone status of %d endpoints: %w", len(eps), err)
		}
		if st.Rev == 0 {
			st.Rev = resp.Header.Revision
		}
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().Kvs {
				s.applyKV(st, st, string(kv.Key), kv.ModRevision, &kv.Value)
			}
		}
		ops = ops[n:]
	}
	return st, nil
}
