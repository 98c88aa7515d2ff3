package apiserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// NewToken returns a random bearer token.
func NewToken() string {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return "plk_" + hex.EncodeToString(b[:])
}

// HashToken is the stored form of a token.
func HashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

func (a *API) authenticate(r *http.Request) (caller, error) {
	if c, ok := r.Context().Value(preAuthKey{}).(caller); ok {
		return c, nil // authenticated by an in-process front end (AsCaller)
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return caller{}, model.Errorf(http.StatusUnauthorized, "InvalidToken.Missing", "send 'Authorization: Bearer <token>' (see <data-dir>/admin.token or 'privlink account create')")
	}
	return a.Authenticate(r.Context(), tok)
}

// Authenticate resolves a token to its account (used by the console too).
func (a *API) Authenticate(ctx context.Context, tok string) (caller, error) {
	rec, _, err := store.Get[store.TokenRecord](ctx, a.st, a.st.ResourceKey(store.KindToken, HashToken(tok)))
	if errors.Is(err, store.ErrNotFound) {
		return caller{}, model.Errorf(http.StatusUnauthorized, "InvalidToken.Unknown", "the token is not valid")
	}
	if err != nil {
		return caller{}, err
	}
	return caller{AccountID: rec.AccountID, Admin: rec.Admin}, nil
}

// Bootstrap creates the admin account on first start and writes its token
// 0600 to <dataDir>/admin.token. It is a no-op when the admin exists.
func Bootstrap(ctx context.Context, st *store.Store, dataDir string) (created bool, err error) {
	metaKey := st.AdminMetaKey()
	acct := model.Account{AccountID: model.NewAccountID(), Name: "admin", CreateTime: now()}
	tok := NewToken()
	acct.TokenHashes = []string{HashToken(tok)}
	// The token file is written first and renamed into place only after the
	// commit, so a failed write can never leave an admin nobody can use.
	path := filepath.Join(dataDir, "admin.token")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return false, fmt.Errorf("data dir: %w", err)
	}
	if err := os.WriteFile(path+".tmp", []byte(tok+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write admin token: %w", err)
	}
	defer os.Remove(path + ".tmp")
	ok, err := st.NewTxn().Claim(metaKey, acct.AccountID).
		Put(st.ResourceKey(store.KindAccount, acct.AccountID), acct).
		Put(st.ResourceKey(store.KindToken, HashToken(tok)), store.TokenRecord{AccountID: acct.AccountID, Admin: true}).
		Commit(ctx)
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	if !ok {
		return false, nil
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return true, fmt.Errorf("install admin token: %w", err)
	}
	return true, nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

// rewriteTokenFile replaces the token in path, an existing file (else an
// fs.ErrNotExist error), atomically and 0600.
func rewriteTokenFile(path, tok string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = errors.Join(f.Chmod(0o600), func() error { _, err := f.WriteString(tok + "\n"); return err }(), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	return err
}
