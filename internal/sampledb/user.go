package sampledb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode"
)

// DefaultRole is the role given to a configured user whose spec omits it.
const DefaultRole = "accountadmin"

// DefaultAccount is the account assumed when a name has no account part
// (a bare "admin" means "sys:admin"), as MatrixOne does.
const DefaultAccount = "sys"

// User is one account that may log in.
type User struct {
	Account, Name, Role, Password string
}

// LoginName returns the canonical MatrixOne login name "account:user:role".
func (u User) LoginName() string { return u.Account + ":" + u.Name + ":" + u.Role }

// ParseUser parses a user spec "account:user:role=password".
//
// The name part is split on the first '='; everything after it is the
// password (it may contain '=', ':' and '#', and may be empty). The name part
// accepts the same forms as a login name: ':' or '#' as the separator, and
// URL escapes such as %3A. The role is optional and defaults to DefaultRole;
// a bare user name gets DefaultAccount.
func ParseUser(s string) (User, error) {
	name, password, ok := strings.Cut(s, "=")
	if !ok {
		return User{}, fmt.Errorf("user spec %q: missing \"=password\" (want account:user:role=password)", s)
	}
	acct, user, role, err := parseLoginName(name)
	if err != nil {
		return User{}, fmt.Errorf("user spec %q: %w", name, err)
	}
	if role == "" {
		role = DefaultRole
	}
	return User{Account: acct, Name: user, Role: role, Password: password}, nil
}

// ReadUsers reads user specs, one per line, as accepted by ParseUser. Blank
// lines and lines whose first non-space character is '#' are ignored;
// there are no trailing comments, since '#' may appear in names and passwords.
func ReadUsers(r io.Reader) ([]User, error) {
	var users []User
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, err := ParseUser(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading users: %w", err)
	}
	return users, nil
}

// parseLoginName splits a MatrixOne login name into its parts. Accepted
// forms: "acct:user:role", "acct:user", "user", the same with '#', and any of
// them URL-escaped (%3A, %23). role is "" when omitted.
func parseLoginName(s string) (account, user, role string, err error) {
	if strings.Contains(s, "%") {
		u, uerr := url.PathUnescape(s)
		if uerr != nil {
			return "", "", "", fmt.Errorf("bad URL escape in name: %w", uerr)
		}
		s = u
	}
	if s == "" {
		return "", "", "", errors.New("empty name")
	}
	sep := ":"
	if !strings.Contains(s, ":") {
		sep = "#"
	} else if strings.Contains(s, "#") {
		return "", "", "", errors.New("name mixes ':' and '#' separators")
	}
	parts := strings.Split(s, sep)
	switch len(parts) {
	case 1:
		account, user = DefaultAccount, parts[0]
	case 2:
		account, user = parts[0], parts[1]
	case 3:
		account, user, role = parts[0], parts[1], parts[2]
		if role == "" {
			return "", "", "", errors.New("empty role (omit the trailing separator instead)")
		}
	default:
		return "", "", "", fmt.Errorf("too many %q separators (want account%suser%srole)", sep, sep, sep)
	}
	if account == "" {
		return "", "", "", errors.New("empty account")
	}
	if user == "" {
		return "", "", "", errors.New("empty user")
	}
	for _, p := range [...]string{account, user, role} {
		if strings.ContainsFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return "", "", "", fmt.Errorf("name part %q contains whitespace or control characters", p)
		}
	}
	return account, user, role, nil
}
