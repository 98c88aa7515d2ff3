package client

import (
	"context"
	"net"
	"net/http"
	"time"
)

// WithDialer returns a client of the same server and token whose
// connections are opened by dial (e.g. a socket made inside a network
// namespace, internal/lab); the TLS settings are kept.
func (c *Client) WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *Client {
	cp := *c
	var tr *http.Transport
	if t, ok := c.hc.Transport.(*http.Transport); ok {
		tr = t.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.Proxy = nil // the dial decides where packets go
	tr.DialContext = dial
	timeout := c.hc.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	cp.hc = &http.Client{Timeout: timeout, Transport: tr}
	return &cp
}
