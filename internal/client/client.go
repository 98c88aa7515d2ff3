// Package client is the typed Go client of privlink's REST API: one method
// per operation of api.Operations, list methods that fetch every page, and
// the helpers callers share (an account with its own client, waiting for an
// endpoint). It talks HTTP to a server (New) or calls an http.Handler
// in-process (InProcess, used by the console), with the same behaviour.
// API failures come back as *api.Error; a passed dry run as *api.DryRunResult.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/privlink/privlink/internal/api"
)

// Client calls the API as one account (one bearer token).
type Client struct {
	base  string
	token string
	hc    *http.Client
	// PollInterval is how often the Wait methods poll; default 50ms.
	PollInterval time.Duration
}

// New returns a client of the server at base (e.g. http://127.0.0.1:8080);
// an https:// server must have a certificate the system trusts (else NewTLS).
func New(base, token string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), token: token, hc: &http.Client{Timeout: 30 * time.Second}}
}

// InProcess returns a client that serves each request with h directly, no
// socket involved; h authenticates and authorizes it as it would a remote one.
func InProcess(h http.Handler, token string) *Client {
	return &Client{base: "http://in-process", token: token, hc: &http.Client{Transport: handlerTransport{h}}}
}

// WithToken returns a client of the same server acting with another token.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// Token is the client's bearer token.
func (c *Client) Token() string { return c.token }

// URL is the server's base URL.
func (c *Client) URL() string { return c.base }

// Do sends one request with an optional JSON body and decodes the answer
// into out (when non-nil). It is the escape hatch for tests of the raw HTTP
// API (bodies the typed methods cannot send, paths outside the operation
// table); everything else uses the typed methods.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: build request: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, c.transportError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if plainToTLS(resp.StatusCode, data) {
		return fmt.Errorf("%s %s: the server at %s speaks HTTPS: use https://", method, path, c.base)
	}
	if resp.StatusCode >= 400 {
		return decodeError(resp.StatusCode, data)
	}
	if dry := dryRun(data); dry != nil {
		return dry
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return nil
}

// decodeError reads an error body; a body that is not one (a proxy's page)
// becomes an Error with code HTTP<status>.
func decodeError(status int, data []byte) error {
	e := &api.Error{Status: status}
	if json.Unmarshal(data, e) != nil || e.Code == "" {
		e.Code, e.Message = fmt.Sprintf("HTTP%d", status), strings.TrimSpace(string(data))
	}
	return e
}

// dryRun recognizes the answer to a dry run that passed validation.
func dryRun(data []byte) *api.DryRunResult {
	if !bytes.Contains(data, []byte(api.DryRunCode)) {
		return nil
	}
	var d api.DryRunResult
	if json.Unmarshal(data, &d) != nil || d.Code != api.DryRunCode {
		return nil
	}
	return &d
}

// IsNotFound reports whether err is an API answer with status 404.
func IsNotFound(err error) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// call runs operation id with path arguments args and decodes its answer.
func call[T any](ctx context.Context, c *Client, id string, query url.Values, body any, args ...string) (T, error) {
	var out T
	op, ok := api.Lookup(id)
	if !ok {
		return out, fmt.Errorf("client: no operation %s", id)
	}
	path, err := op.Expand(args...)
	if err != nil {
		return out, fmt.Errorf("client: %w", err)
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return out, c.Do(ctx, op.Method, path, body, &out)
}

// list fetches every page of list operation id.
func list[T any](ctx context.Context, c *Client, id string, filters url.Values, args ...string) ([]T, error) {
	all := []T{}
	q := url.Values{}
	for k, v := range filters {
		if len(v) > 0 && v[0] != "" {
			q[k] = v
		}
	}
	q.Set("maxResults", fmt.Sprint(api.MaxPageSize))
	for {
		page, err := call[api.List[T]](ctx, c, id, q, nil, args...)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextToken == "" || len(page.Items) == 0 {
			return all, nil
		}
		q.Set("nextToken", page.NextToken)
	}
}
