package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAccessKeysPage: the console creates an AccessKey and shows its
// secret on that answer only, refuses a create without the CSRF token,
// caps the keys per account, and deletes them.
func TestAccessKeysPage(t *testing.T) {
	w := startWorld(t)
	h := newHTTP(t, w.base)
	h.mustLogin(w.consumer.Token())
	resp, body := h.get("/console/access-keys")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "No AccessKey yet") {
		t.Fatalf("HTTP %d:\n%s", resp.StatusCode, body)
	}
	if resp, _ := h.post("/console/access-keys", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("create without CSRF token: HTTP %d, want 403", resp.StatusCode)
	}
	resp, body = h.post("/console/access-keys", url.Values{"csrf": {h.csrf}})
	keys, err := w.consumer.ListAccessKeys(bg)
	must(t, err)
	if resp.StatusCode != http.StatusOK || len(keys) != 1 || !strings.Contains(body, keys[0].AccessKeyID) {
		t.Fatalf("create: HTTP %d, keys %+v:\n%s", resp.StatusCode, keys, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the page with the secret may be cached: %q", resp.Header.Get("Cache-Control"))
	}
	secret := between(body, `<code id="new-key-secret">`, `</code>`)
	if len(secret) != 30 {
		t.Fatalf("no 30-character secret on the page:\n%s", body)
	}
	if _, body := h.get("/console/access-keys"); strings.Contains(body, secret) || !strings.Contains(body, keys[0].AccessKeyID) {
		t.Fatal("the list page shows the secret again, or not the key")
	}
	h.post("/console/access-keys", url.Values{"csrf": {h.csrf}})
	resp, body = h.post("/console/access-keys", url.Values{"csrf": {h.csrf}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "QuotaExceeded.AccessKey") {
		t.Fatalf("third key: HTTP %d:\n%s", resp.StatusCode, body)
	}
	resp, _ = h.post("/console/access-keys/"+keys[0].AccessKeyID+"/delete", url.Values{"csrf": {h.csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: HTTP %d", resp.StatusCode)
	}
	left, err := w.consumer.ListAccessKeys(bg)
	must(t, err)
	if len(left) != 1 || left[0].AccessKeyID == keys[0].AccessKeyID {
		t.Fatalf("after delete: %+v", left)
	}
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}
