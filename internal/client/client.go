// Package client is the Go client of privlink's REST API, used by the CLI,
// the demo and the tests.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client talks to one API server with one token.
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// New returns a client for base URL (e.g. http://127.0.0.1:8080) and token.
func New(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is an API error response.
type Error struct {
	Status    int    `json:"-"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d, requestId %s)", e.Code, e.Message, e.Status, e.RequestID)
}

// Do sends a request with an optional JSON body and decodes the answer into out (if non-nil).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			e.Code, e.Message = "HTTP"+fmt.Sprint(resp.StatusCode), strings.TrimSpace(string(data))
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return nil
}

// Get, Post, Patch and Delete are shorthands for Do.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

func (c *Client) Post(ctx context.Context, path string, body, out any) error {
	return c.Do(ctx, http.MethodPost, path, body, out)
}

func (c *Client) Patch(ctx context.Context, path string, body, out any) error {
	return c.Do(ctx, http.MethodPatch, path, body, out)
}

func (c *Client) Delete(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodDelete, path, nil, out)
}

// List fetches every page of a list endpoint into items.
func List[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var all []T
	next := ""
	for {
		p := path
		sep := "?"
		if strings.Contains(p, "?") {
			sep = "&"
		}
		p += sep + "maxResults=100"
		if next != "" {
			p += "&nextToken=" + next
		}
		var page struct {
			Items     []T    `json:"items"`
			NextToken string `json:"nextToken"`
		}
		if err := c.Get(ctx, p, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextToken == "" {
			return all, nil
		}
		next = page.NextToken
	}
}
