package testenv

import (
	"context"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EnableEtcdAuth turns on etcd's user/password auth on this Env's embedded
// etcd: a root user, user with password and read-write access to the
// store's prefix only, and the CN of privlink's client certificate
// ("privlink") kept as root so that this Env's server, which presents only
// the certificate, keeps working.
func (e *Env) EnableEtcdAuth(t testing.TB, user, password string) {
	t.Helper()
	c := e.Store.Credentials()
	tlsCfg, err := transport.TLSInfo{TrustedCAFile: c.CACert, CertFile: c.Cert, KeyFile: c.Key}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Store.Endpoints(), TLS: tlsCfg, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prefix := e.Store.Prefix()
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
			_, err := cli.RoleGrantPermission(ctx, "privlink-rw", prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, user, password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, user, "privlink-rw"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil && err != rpctypes.ErrRoleAlreadyExist {
			t.Fatalf("enable etcd auth, step %d: %v", i, err)
		}
	}
}
