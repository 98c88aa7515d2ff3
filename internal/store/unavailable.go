package store

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Unavailable reports whether err means etcd could not be reached in time
// (the caller's deadline passed, or the cluster answers Unavailable, e.g.
// without a leader), as opposed to a request etcd refused.
func Unavailable(err error) bool {
	var ee rpctypes.EtcdError
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &ee):
		return unavailableCode(ee.Code())
	}
	return unavailableCode(status.Code(err))
}

func unavailableCode(c codes.Code) bool { return c == codes.Unavailable || c == codes.DeadlineExceeded }
