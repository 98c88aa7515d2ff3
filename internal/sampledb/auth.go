package sampledb

import (
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"
)

// userTable authenticates MatrixOne-style login names against the
// configured users with mysql_native_password. It implements the vitess
// mysql.AuthServer, HashStorage and UserValidator interfaces.
type userTable struct {
	users []User
	log   *slog.Logger
}

func newUserTable(users []User, log *slog.Logger) (*userTable, error) {
	seen := make(map[[2]string]bool, len(users))
	for _, u := range users {
		if u.Account == "" || u.Name == "" || u.Role == "" {
			return nil, fmt.Errorf("user %q: account, name and role must be set", u.LoginName())
		}
		k := [2]string{u.Account, u.Name}
		if seen[k] {
			return nil, fmt.Errorf("user %s:%s configured twice", u.Account, u.Name)
		}
		seen[k] = true
	}
	return &userTable{users: users, log: log}, nil
}

// lookup finds the configured user for a login name. An omitted role matches
// the user's configured role; a given role must equal it.
func (t *userTable) lookup(login string) (User, bool) {
	acct, name, role, err := parseLoginName(login)
	if err != nil {
		return User{}, false
	}
	for _, u := range t.users {
		if u.Account == acct && u.Name == name && (role == "" || role == u.Role) {
			return u, true
		}
	}
	return User{}, false
}

// AuthMethods implements mysql.AuthServer: mysql_native_password only.
func (t *userTable) AuthMethods() []mysql.AuthMethod {
	return []mysql.AuthMethod{mysql.NewMysqlNativeAuthMethod(t, t)}
}

// DefaultAuthMethodDescription implements mysql.AuthServer.
func (t *userTable) DefaultAuthMethodDescription() mysql.AuthMethodDescription {
	return mysql.MysqlNativePassword
}

// HandleUser implements mysql.UserValidator. It accepts every name so that
// unknown users fail in UserEntryWithHash with "access denied" (1045) like
// MySQL does, instead of failing the handshake.
func (t *userTable) HandleUser(string, net.Addr) bool { return true }

// UserEntryWithHash implements mysql.HashStorage.
func (t *userTable) UserEntryWithHash(_ []*x509.Certificate, salt []byte, login string, authResponse []byte, remote net.Addr) (mysql.Getter, error) {
	u, ok := t.lookup(login)
	if ok {
		want := mysql.ScrambleMysqlNativePassword(salt, []byte(u.Password))
		ok = subtle.ConstantTimeCompare(want, authResponse) == 1
	}
	if !ok {
		t.log.Warn("access denied", "login", login, "remote", addrString(remote))
		using := "NO"
		if len(authResponse) > 0 {
			using = "YES"
		}
		return nil, mysql.NewSQLError(mysql.ERAccessDeniedError, mysql.SSAccessDeniedError,
			"Access denied for user '%v' (using password: %s)", login, using)
	}
	return sql.MysqlConnectionUser{User: u.LoginName(), Host: hostOf(remote)}, nil
}

func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
