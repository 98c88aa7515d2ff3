package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

const (
	sessionCookie = "privlink_session"
	loginCookie   = "privlink_login" // pre-login CSRF (double submit)
	cookiePath    = "/console"
	sessionIdle   = 12 * time.Hour
	maxSessions   = 10000
	// maxAccountSessions caps one account's sessions: logging in again
	// beyond it drops that account's oldest session.
	maxAccountSessions = 20
)

// session is one logged-in browser. The bearer token never leaves the
// server: the browser only holds the random session ID.
type session struct {
	ID        string
	Token     string
	AccountID string
	Name      string
	Admin     bool
	CSRF      string

	created time.Time
	expires time.Time
	flash   *flash
}

// flash is a one-shot message shown on the next page.
type flash struct {
	Text  string
	Error bool
}

// sessions is the in-memory session table (random ID -> session).
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

func randomID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create stores a new session and returns it. Expired sessions go first;
// then, over the caps, the account's oldest session, and the session
// closest to expiry overall.
func (s *sessions) create(token, accountID, name string, admin bool) *session {
	now := time.Now()
	sess := &session{ID: randomID(), Token: token, AccountID: accountID, Name: name, Admin: admin,
		CSRF: randomID(), created: now, expires: now.Add(sessionIdle)}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, old := range s.m {
		if now.After(old.expires) {
			delete(s.m, id)
		} else if old.AccountID == accountID {
			n++
		}
	}
	if n >= maxAccountSessions {
		s.dropFirst(func(a, b *session) bool { return a.AccountID == accountID && (b == nil || a.created.Before(b.created)) })
	}
	if len(s.m) >= maxSessions {
		s.dropFirst(func(a, b *session) bool { return b == nil || a.expires.Before(b.expires) })
	}
	s.m[sess.ID] = sess
	return sess
}

// dropFirst drops the session that comes first by before(candidate,
// best so far); s.mu is held.
func (s *sessions) dropFirst(before func(a, b *session) bool) {
	var first *session
	for _, o := range s.m {
		if before(o, first) {
			first = o
		}
	}
	if first != nil {
		delete(s.m, first.ID)
	}
}

// get returns the live session with id and extends it.
func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.m[id]
	if sess == nil {
		return nil
	}
	if time.Now().After(sess.expires) {
		delete(s.m, id)
		return nil
	}
	sess.expires = time.Now().Add(sessionIdle)
	return sess
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// setFlash leaves a one-shot message for the next page.
func (s *sessions) setFlash(sess *session, f *flash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.flash = f
}

func (s *sessions) takeFlash(sess *session) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := sess.flash
	sess.flash = nil
	return m
}

// fromRequest returns the request's session or nil.
func (s *sessions) fromRequest(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	return s.get(c.Value)
}

// setCookie sets a console cookie, Secure whenever the browser speaks TLS:
// to this server, or to a TLS-terminating proxy that says so with
// X-Forwarded-Proto (a forged header only makes the sender's own cookie
// stricter).
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	secure := r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: cookiePath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure})
}

// sameSecret compares two secrets in constant time; empty never matches.
func sameSecret(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// checkCSRF reports whether the POSTed form carries the session's token.
func checkCSRF(r *http.Request, sess *session) bool {
	return sameSecret(r.PostFormValue("csrf"), sess.CSRF)
}
