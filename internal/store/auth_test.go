package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/store"
	"github.com/privlink/privlink/internal/testenv"
)

// TestEtcdUserPassword: against an etcd with auth enabled (a server's
// embedded one, auth turned on), a store with the right user and password
// reads and writes under its prefix, and only there; a wrong password or an
// unknown user fails to open with an error that names the user and the flags.
func TestEtcdUserPassword(t *testing.T) {
	e := testenv.Start(t, testenv.Options{Network: "loopback", AgentZones: []string{}})
	e.EnableEtcdAuth(t, "app", "s3cret")
	openAt := func(prefix, user, password string) (*store.Store, error) {
		c := e.Store.Credentials()
		c.Username, c.Password = user, password
		return store.Open(context.Background(), store.Config{Endpoints: e.Store.Endpoints(), Credentials: c, Prefix: prefix, Logger: e.Config().Logger})
	}
	open := func(user, password string) (*store.Store, error) { return openAt("", user, password) }
	app, err := open("app", "s3cret")
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	defer app.Close()
	ctx := context.Background()
	if err := app.PutRaw(ctx, app.Prefix()+"auth-test", "x"); err != nil {
		t.Errorf("write under the prefix: %v", err)
	}
	// The user's role covers the store's prefix only: auth is on.
	if outside, err := openAt("/elsewhere/", "app", "s3cret"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		if err == nil {
			outside.Close()
		}
		t.Errorf("the user opened a store outside its prefix: %v", err)
	}
	if _, err := e.Admin.WhoAmI(ctx); err != nil {
		t.Errorf("the server (certificate only, CN privlink) after auth was enabled: %v", err)
	}
	for _, tc := range []struct{ user, password string }{{"app", "wrong"}, {"nobody", "s3cret"}} {
		st, err := open(tc.user, tc.password)
		if err == nil {
			st.Close()
			t.Errorf("user %s password %s: opened", tc.user, tc.password)
			continue
		}
		for _, want := range []string{`refused user "` + tc.user + `"`, "--etcd-user", "--etcd-password"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("user %s password %s: error %q lacks %q", tc.user, tc.password, err, want)
			}
		}
	}
}
