package notify

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/privlink/privlink/internal/model"
)

// AllowList is where webhooks may be delivered: the admin's CIDRs, or by
// default (none given) public unicast addresses only: no loopback,
// private (RFC 1918, fc00::/7), link-local, CGNAT (100.64.0.0/10),
// unspecified or multicast address.
type AllowList struct{ prefixes []netip.Prefix }

// ParseAllowList parses CIDRs (an IP alone means that one address).
func ParseAllowList(cidrs []string) (*AllowList, error) {
	a := &AllowList{}
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !strings.Contains(c, "/") {
			ip, err := netip.ParseAddr(c)
			if err != nil {
				return nil, fmt.Errorf("webhook allow-list: %q is not a CIDR or IP", c)
			}
			c = netip.PrefixFrom(ip, ip.BitLen()).String()
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("webhook allow-list: %q is not a CIDR: %w", c, err)
		}
		a.prefixes = append(a.prefixes, p.Masked())
	}
	return a, nil
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Allowed reports whether a webhook may connect to ip.
func (a *AllowList) Allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if a != nil && len(a.prefixes) > 0 {
		for _, p := range a.prefixes {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !cgnat.Contains(ip)
}

// String describes the list for messages.
func (a *AllowList) String() string {
	if a == nil || len(a.prefixes) == 0 {
		return "public unicast addresses only (the default; the admin widens it with --webhook-allow)"
	}
	var s []string
	for _, p := range a.prefixes {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

// CheckURL validates a webhook URL for a create: http or https, a host,
// and every address the host resolves to allowed.
func (a *AllowList) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || len(raw) > 2048 {
		return model.Invalid("Url", "url must be an absolute http:// or https:// URL of at most 2048 bytes")
	}
	if u.User != nil {
		return model.Invalid("Url", "url must not carry credentials")
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		ips = []netip.Addr{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if ips, err = net.DefaultResolver.LookupNetIP(rctx, "ip", u.Hostname()); err != nil {
			return model.Invalid("Url", "url host %s does not resolve: %v", u.Hostname(), err)
		}
	}
	for _, ip := range ips {
		if !a.Allowed(ip) {
			return model.Errorf(http.StatusForbidden, "Forbidden.WebhookUrl",
				"webhook url %s resolves to %s, outside the addresses this deployment delivers to: %s", raw, ip, a)
		}
	}
	return nil
}

// control refuses a connection to an address outside the list (the dialed
// address, after DNS: a name that resolves elsewhere later is refused too).
func (a *AllowList) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dial %s: %w", address, err)
	}
	if !a.Allowed(ap.Addr()) {
		return fmt.Errorf("webhook: %s is outside the allow-list (%s)", ap.Addr(), a)
	}
	return nil
}

// httpClient posts webhooks: dials only allowed addresses, follows no
// redirect, no proxy, and gives up after timeout.
func (a *AllowList) httpClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: a.control}
	return &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{DialContext: d.DialContext, Proxy: nil, MaxIdleConns: 16, IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: timeout},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
