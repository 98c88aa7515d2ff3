package testenv

import (
	"context"
	"testing"
	"time"
)

// EnableEtcdAuth turns on etcd's user/password auth on this Env's embedded
// etcd (store.EnableAuth): user gets read-write access to the store's
// prefix only; this Env's server, which presents privlink's client
// certificate, keeps working.
func (e *Env) EnableEtcdAuth(t testing.TB, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Store.EnableAuth(ctx, user, password); err != nil {
		t.Fatal(err)
	}
}
