package store

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EnableAuth turns on etcd's user/password authentication, for labs and
// tests of --etcd-user/--etcd-password: a root user, the CN of privlink's
// client certificate ("privlink") as root so that clients presenting only
// the certificate keep working, and user with read-write access to this
// store's prefix only. The store must hold root access (its own embedded
// etcd does). Steps already done are skipped.
func (s *Store) EnableAuth(ctx context.Context, user, password string) error {
	cli := s.cli
	steps := []func() error{
		func() error { _, err := cli.RoleAdd(ctx, "root"); return err },
		func() error { _, err := cli.UserAdd(ctx, "root", "root-"+password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error {
			_, err := cli.UserAddWithOptions(ctx, "privlink", "", &clientv3.UserAddOptions{NoPassword: true})
			return err
		},
		func() error { _, err := cli.UserGrantRole(ctx, "privlink", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "privlink-rw"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "privlink-rw", s.prefix, clientv3.GetPrefixRangeEnd(s.prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, user, password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, user, "privlink-rw"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) && !errors.Is(err, rpctypes.ErrUserAlreadyExist) {
			return fmt.Errorf("enable etcd auth, step %d: %w", i, err)
		}
	}
	return nil
}
