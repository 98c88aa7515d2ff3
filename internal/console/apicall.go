package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// apiError is the API's {"code","message","requestId"} error body.
type apiError struct {
	Status    int    `json:"-"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// caller calls the REST API in-process as one account: it builds an
// *http.Request with that account's bearer token, runs it through the API
// handler into a buffer and decodes the JSON answer. No socket, no second
// authentication path: the API authorizes every call exactly as it would a
// CLI request.
type caller struct {
	api   http.Handler
	ctx   context.Context
	token string
}

// bufferWriter is the minimal http.ResponseWriter the API writes into.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// do sends method path with an optional JSON body and decodes the result
// into out (when non-nil). API failures come back as *apiError.
func (c caller) do(method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, path, rd)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.RequestURI = path
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := &bufferWriter{header: http.Header{}}
	c.api.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 400 {
		e := &apiError{Status: w.status}
		if json.Unmarshal(w.body.Bytes(), e) != nil || e.Code == "" {
			e.Code = fmt.Sprintf("HTTP%d", w.status)
			e.Message = strings.TrimSpace(w.body.String())
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(w.body.Bytes(), out); err != nil {
			return fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return nil
}

func (c caller) get(path string, out any) error        { return c.do(http.MethodGet, path, nil, out) }
func (c caller) post(path string, body, out any) error { return c.do(http.MethodPost, path, body, out) }
func (c caller) del(path string, out any) error        { return c.do(http.MethodDelete, path, nil, out) }

// listAll fetches every page of a list operation.
func listAll[T any](c caller, path string) ([]T, error) {
	var all []T
	next := ""
	for {
		q := url.Values{"maxResults": {"100"}}
		if next != "" {
			q.Set("nextToken", next)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		var page struct {
			Items     []T    `json:"items"`
			NextToken string `json:"nextToken"`
		}
		if err := c.get(path+sep+q.Encode(), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextToken == "" || len(page.Items) == 0 {
			return all, nil
		}
		next = page.NextToken
	}
}

// esc escapes one path segment (IDs are safe, but form input is not).
func esc(s string) string { return url.PathEscape(s) }
