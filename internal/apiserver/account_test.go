package apiserver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

// TestRotateToken: the new token works, the old one stops; another
// account's token is not the caller's to rotate, but the admin's.
func TestRotateToken(t *testing.T) {
	e := startLoopback(t)
	alice, aliceID := e.Account(t, "alice")
	bob, bobID := e.Account(t, "bob")
	rot, err := alice.RotateToken(bg, aliceID)
	if err != nil || rot.Token == "" || rot.TokenHashes != nil {
		t.Fatalf("rotate: %v %+v", err, rot)
	}
	_, err = alice.WhoAmI(bg)
	wantCode(t, err, "InvalidToken.Unknown")
	alice = alice.WithToken(rot.Token)
	if me, err := alice.WhoAmI(bg); err != nil || me.AccountID != aliceID || me.Admin {
		t.Fatalf("new token: %v %+v", err, me)
	}
	_, err = alice.RotateToken(bg, bobID)
	wantCode(t, err, "AccountNotFound")
	if _, err := bob.WhoAmI(bg); err != nil {
		t.Fatalf("bob's token broken by a refused rotation: %v", err)
	}
	rot, err = e.Admin.RotateToken(bg, bobID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bob.WhoAmI(bg)
	wantCode(t, err, "InvalidToken.Unknown")
	if me, err := bob.WithToken(rot.Token).WhoAmI(bg); err != nil || me.AccountID != bobID {
		t.Fatalf("admin-rotated token: %v %+v", err, me)
	}
	// Other accounts' rotations leave <data-dir>/admin.token alone.
	tokenFile := filepath.Join(e.Dir, "admin.token")
	if b, err := os.ReadFile(tokenFile); err != nil || strings.TrimSpace(string(b)) != e.Admin.Token() || rot.TokenFile != "" {
		t.Fatalf("admin.token after other rotations: %q %v, tokenFile %q", b, err, rot.TokenFile)
	}
	// The admin's own rotation keeps it admin and rewrites admin.token.
	rot, err = e.Admin.RotateToken(bg, mustWhoAmI(t, e.Admin).AccountID)
	if err != nil {
		t.Fatal(err)
	}
	if me := mustWhoAmI(t, e.Admin.WithToken(rot.Token)); !me.Admin {
		t.Fatalf("admin lost admin by rotating: %+v", me)
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil || string(b) != rot.Token+"\n" || rot.TokenFile != tokenFile {
		t.Fatalf("admin.token after the admin's rotation: %q %v, want the new token; tokenFile %q", b, err, rot.TokenFile)
	}
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v %v, want 0600", fi.Mode(), err)
	}
}

func mustWhoAmI(t *testing.T, c *client.Client) api.Caller {
	t.Helper()
	me, err := c.WhoAmI(bg)
	if err != nil {
		t.Fatal(err)
	}
	return me
}

// TestDeleteAccount: refused while the account owns a VPC, for a
// non-admin and for the admin's own account; then the account and its
// token are gone.
func TestDeleteAccount(t *testing.T) {
	e := startLoopback(t)
	carol, carolID := e.Account(t, "carol")
	vpc, err := carol.CreateVPC(bg, api.CreateVPCRequest{Name: "v", CidrBlock: "10.9.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = carol.DeleteAccount(bg, carolID)
	wantCode(t, err, "Forbidden.AdminOnly")
	_, err = e.Admin.DeleteAccount(bg, carolID)
	wantCode(t, err, "DependencyViolation.Account")
	_, err = e.Admin.DeleteAccount(bg, mustWhoAmI(t, e.Admin).AccountID)
	wantCode(t, err, "OperationDenied.AdminAccount")
	_, err = e.Admin.DeleteAccount(bg, "1234567890123456")
	wantCode(t, err, "AccountNotFound")
	if _, err := carol.DeleteVPC(bg, vpc.VpcID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Admin.DeleteAccount(bg, carolID); err != nil {
		t.Fatal(err)
	}
	_, err = carol.WhoAmI(bg)
	wantCode(t, err, "InvalidToken.Unknown")
	accts, err := e.Admin.ListAccounts(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		if a.AccountID == carolID {
			t.Fatalf("deleted account still listed")
		}
	}
	dump, err := e.Store.Dump(bg)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range dump {
		if v == `{"accountId":"`+carolID+`"}` {
			t.Errorf("token record %s of the deleted account left", k)
		}
	}
}
