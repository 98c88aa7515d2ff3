package aliyun

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// TimestampWindow is how far a request's Timestamp may be from the
// server's clock, either way (Alibaba's 15 minutes).
const TimestampWindow = 15 * time.Minute

// identity is the account a request acts as.
type identity struct {
	AccountID string
	Admin     bool
	// nonceScope keys the nonce cache: the AccessKey ID, or the account
	// for a bearer token.
	nonceScope string
}

// authenticate checks a request's signature (or bearer token), timestamp
// and nonce, in that order, and returns whom it acts as.
func (h *Handler) authenticate(ctx context.Context, method string, p params) (identity, error) {
	var id identity
	if strings.EqualFold(p.str("SignatureType"), "BEARERTOKEN") {
		tok, err := p.required("BearerToken")
		if err != nil {
			return id, err
		}
		acct, admin, err := h.cfg.API.TokenAccount(ctx, tok)
		if err != nil {
			return id, err // InvalidToken.Unknown, or the store is down
		}
		id = identity{AccountID: acct, Admin: admin, nonceScope: "token:" + acct}
	} else {
		for _, name := range []string{"AccessKeyId", "Signature", "SignatureNonce", "Timestamp"} {
			if p.str(name) == "" {
				return id, model.Errorf(http.StatusBadRequest, "MissingParameter", "the parameter %s is required (sign the request with an AccessKey: docs/alibaba-api.md)", name)
			}
		}
		if m := p.str("SignatureMethod"); m != "HMAC-SHA1" {
			return id, model.Errorf(http.StatusBadRequest, "InvalidSignatureMethod", "SignatureMethod %q is not supported; use HMAC-SHA1", m)
		}
		if v := p.str("SignatureVersion"); v != "1.0" {
			return id, model.Errorf(http.StatusBadRequest, "InvalidSignatureVersion", "SignatureVersion %q is not supported; use 1.0", v)
		}
		akID := p.str("AccessKeyId")
		acct, admin, secret, err := h.cfg.API.LookupAccessKey(ctx, akID)
		if errors.Is(err, store.ErrNotFound) {
			return id, model.Errorf(http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
		}
		if err != nil {
			return id, err
		}
		sts := StringToSign(method, p)
		if !hmac.Equal([]byte(Sign(sts, secret)), []byte(p.str("Signature"))) {
			return id, model.Errorf(http.StatusBadRequest, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. server string to sign is:%s", sts)
		}
		id = identity{AccountID: acct, Admin: admin, nonceScope: "ak:" + akID}
	}
	ts, err := h.checkTimestamp(p.str("Timestamp"))
	if err != nil {
		return id, err
	}
	if err := h.nonces.use(id.nonceScope, p.str("SignatureNonce"), ts, h.now()); err != nil {
		return id, err
	}
	return id, nil
}

func (h *Handler) checkTimestamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, model.Errorf(http.StatusBadRequest, "MissingParameter", "the parameter Timestamp is required")
	}
	ts, err := time.Parse("2006-01-02T15:04:05Z", s)
	if err != nil {
		return ts, model.Errorf(http.StatusBadRequest, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted: %q (want UTC yyyy-MM-ddTHH:mm:ssZ)", s)
	}
	if d := h.now().Sub(ts); d > TimestampWindow || d < -TimestampWindow {
		return ts, model.Errorf(http.StatusBadRequest, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired: %s is more than %v from the server's time %s", s, TimestampWindow, h.now().UTC().Format(time.RFC3339))
	}
	return ts, nil
}

// percentEncode is Alibaba's RPC encoding: RFC 3986 unreserved characters
// stay, everything else is %XX.
func percentEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

// StringToSign is METHOD&%2F&percentEncode(sorted k=v of every parameter
// but Signature, each percent-encoded), as the SDK builds it.
func StringToSign(method string, p params) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = percentEncode(k) + "=" + percentEncode(p[k])
	}
	return method + "&%2F&" + percentEncode(strings.Join(pairs, "&"))
}

// Sign is base64(HMAC-SHA1(secret + "&", stringToSign)).
func Sign(stringToSign, secret string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// MaxNonces bounds the nonce cache, and MaxNoncesPerKey the share of one
// AccessKey (or bearer-token account) in it, so one busy or hostile key
// cannot lock the others out. Beyond either, requests are refused
// (Throttling) until entries expire, rather than forgetting nonces that
// could then be replayed. 50,000 per key is ~55 requests/s sustained over
// the 15-minute window.
const (
	MaxNonces       = 200_000
	MaxNoncesPerKey = 50_000
)

// nonceCache remembers each (scope, nonce) until its request's timestamp
// leaves the window, so a replay within the window is refused. It lives in
// this server's memory: see docs/alibaba-api.md for why and its limit.
type nonceCache struct {
	mu       sync.Mutex
	seen     map[string]nonceEntry // scope + "\n" + nonce
	perScope map[string]int
	lastGC   time.Time
	maxSize  int
	maxScope int
}

type nonceEntry struct {
	scope string
	until time.Time // forget after
}

func newNonceCache() *nonceCache {
	return &nonceCache{seen: map[string]nonceEntry{}, perScope: map[string]int{}, maxSize: MaxNonces, maxScope: MaxNoncesPerKey}
}

func (c *nonceCache) use(scope, nonce string, ts, now time.Time) error {
	if nonce == "" {
		return model.Errorf(http.StatusBadRequest, "MissingParameter", "the parameter SignatureNonce is required")
	}
	if len(nonce) > 128 {
		return model.Errorf(http.StatusBadRequest, "InvalidParameter.SignatureNonce", "SignatureNonce must be at most 128 characters")
	}
	key := scope + "\n" + nonce
	c.mu.Lock()
	defer c.mu.Unlock()
	// Expired entries go every minute, or every second while full (a
	// sweep is O(entries): never one per request).
	full := len(c.seen) >= c.maxSize || c.perScope[scope] >= c.maxScope
	if now.Sub(c.lastGC) >= time.Minute || (full && now.Sub(c.lastGC) >= time.Second) {
		for k, e := range c.seen {
			if now.After(e.until) {
				delete(c.seen, k)
				if c.perScope[e.scope]--; c.perScope[e.scope] <= 0 {
					delete(c.perScope, e.scope)
				}
			}
		}
		c.lastGC = now
	}
	if e, ok := c.seen[key]; ok && !now.After(e.until) {
		return model.Errorf(http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	if len(c.seen) >= c.maxSize || c.perScope[scope] >= c.maxScope {
		return model.Errorf(http.StatusServiceUnavailable, "Throttling", "too many signed requests in the last %v; retry later", TimestampWindow)
	}
	if _, ok := c.seen[key]; !ok {
		c.perScope[scope]++
	}
	c.seen[key] = nonceEntry{scope: scope, until: ts.Add(TimestampWindow)}
	return nil
}
