package apiserver_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/privlink/privlink/internal/store"
)

// TestAccessKeys: a pair is created with its secret shown once, listed
// without it, capped at two per account, invisible to other accounts,
// deleted by its owner, and gone with its account.
func TestAccessKeys(t *testing.T) {
	e := startLoopback(t)
	carol, carolID := e.Account(t, "carol")
	dave, _ := e.Account(t, "dave")
	k1, err := carol.CreateAccessKey(bg)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^PLAK[A-Z0-9]{20}$`).MatchString(k1.AccessKeyID) || !regexp.MustCompile(`^[A-Za-z0-9]{30}$`).MatchString(k1.AccessKeySecret) || k1.AccountID != carolID {
		t.Fatalf("created %+v", k1)
	}
	acct, admin, secret, err := e.API.LookupAccessKey(bg, k1.AccessKeyID)
	if err != nil || secret != k1.AccessKeySecret || acct != carolID || admin {
		t.Fatalf("lookup: %s %v %v", acct, admin, err)
	}
	k2, err := carol.CreateAccessKey(bg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = carol.CreateAccessKey(bg)
	wantCode(t, err, "QuotaExceeded.AccessKey")
	keys, err := carol.ListAccessKeys(bg)
	if err != nil || len(keys) != 2 {
		t.Fatalf("list: %+v %v", keys, err)
	}
	if others, err := dave.ListAccessKeys(bg); err != nil || len(others) != 0 {
		t.Fatalf("dave sees %+v %v", others, err)
	}
	_, err = dave.DeleteAccessKey(bg, k1.AccessKeyID)
	wantCode(t, err, "InvalidAccessKeyId.NotFound")
	_, err = carol.DeleteAccessKey(bg, "not a key")
	wantCode(t, err, "InvalidAccessKeyId.NotFound")
	if _, err := carol.DeleteAccessKey(bg, k1.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.API.LookupAccessKey(bg, k1.AccessKeyID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted key still found: %v", err)
	}
	if _, err := e.Admin.DeleteAccount(bg, carolID); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.API.LookupAccessKey(bg, k2.AccessKeyID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key of a deleted account still found: %v", err)
	}
}
