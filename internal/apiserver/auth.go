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

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// tokenRecord is stored at token/<sha256 hex>.
type tokenRecord struct {
	AccountID string `json:"accountId"`
	Admin     bool   `json:"admin,omitempty"`
}

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
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return caller{}, model.Errorf(http.StatusUnauthorized, "InvalidToken.Missing", "send 'Authorization: Bearer <token>' (see <data-dir>/admin.token or 'privlink account create')")
	}
	return a.Authenticate(r.Context(), tok)
}

// Authenticate resolves a token to its account (used by the console too).
func (a *API) Authenticate(ctx context.Context, tok string) (caller, error) {
	rec, _, err := store.Get[tokenRecord](ctx, a.st, a.st.Key(store.KindToken, HashToken(tok)))
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
	metaKey := st.Key("meta", "admin")
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
	resp, err := st.Client().Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(metaKey), "=", 0)).
		Then(
			clientv3.OpPut(metaKey, acct.AccountID),
			clientv3.OpPut(st.Key(store.KindAccount, acct.AccountID), store.MustJSON(acct)),
			clientv3.OpPut(st.Key(store.KindToken, HashToken(tok)), store.MustJSON(tokenRecord{AccountID: acct.AccountID, Admin: true})),
		).Commit()
	if err != nil {
		return false, fmt.Errorf("bootstrap admin: %w", err)
	}
	if !resp.Succeeded {
		return false, nil
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return true, fmt.Errorf("install admin token: %w", err)
	}
	return true, nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }
