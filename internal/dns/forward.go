package dns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

const (
	// forwardTimeout bounds one exchange (dial, write, read) with one
	// upstream over one transport.
	forwardTimeout = 2 * time.Second
	// upstreamUDPSize is the EDNS0 buffer size we advertise upstream
	// (DNS flag day 2020); larger answers come back truncated and are
	// re-fetched over TCP.
	upstreamUDPSize = 1232
	// maxInflightForwards caps concurrent upstream exchanges; beyond it
	// queries for outside names get SERVFAIL instead of piling up.
	maxInflightForwards = 1024
)

// forwarder relays queries for names outside the zone to upstream resolvers.
type forwarder struct {
	upstreams []string // host:port with an IP literal host
	udp, tcp  *mdns.Client
	sem       chan struct{}
}

func newForwarder(upstreams []string) (*forwarder, error) {
	f := &forwarder{
		udp: &mdns.Client{Net: "udp", Timeout: forwardTimeout, UDPSize: upstreamUDPSize},
		tcp: &mdns.Client{Net: "tcp", Timeout: forwardTimeout},
		sem: make(chan struct{}, maxInflightForwards),
	}
	for _, u := range upstreams {
		addr, err := parseUpstream(u)
		if err != nil {
			return nil, err
		}
		f.upstreams = append(f.upstreams, addr)
	}
	return f, nil
}

// parseUpstream accepts "ip:port", "[ipv6]:port" or a bare IP (port 53).
// Host names are rejected: resolving them would need a resolver, possibly us.
func parseUpstream(u string) (string, error) {
	u = strings.TrimSpace(u)
	if ip, err := netip.ParseAddr(u); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(u)
	if err != nil {
		return "", fmt.Errorf("upstream %q: want ip:port: %w", u, err)
	}
	if ap.Port() == 0 {
		return "", fmt.Errorf("upstream %q: port 0", u)
	}
	return ap.String(), nil
}

// forward relays req (a well-formed single-question query for a name outside
// the zone) to the upstreams in order and returns the answer to send back,
// without OPT record. On failure it returns resp with SERVFAIL.
func (s *Server) forward(req, resp *mdns.Msg) *mdns.Msg {
	f := s.fwd
	select {
	case f.sem <- struct{}{}:
		defer func() { <-f.sem }()
	default:
		s.log.Warn("too many concurrent forwarded queries; answering SERVFAIL")
		resp.Rcode = mdns.RcodeServerFailure
		return resp
	}

	// A fresh query: new ID (the client's is not ours to reuse upstream),
	// only the question and our own OPT; client cookies, ECS, TSIG and
	// anything else in the request stay here.
	clientOPT := req.IsEdns0()
	q := new(mdns.Msg)
	q.Id = mdns.Id()
	q.Opcode = mdns.OpcodeQuery
	q.RecursionDesired = req.RecursionDesired
	q.CheckingDisabled = req.CheckingDisabled
	q.AuthenticatedData = req.AuthenticatedData
	q.Question = []mdns.Question{req.Question[0]}
	q.SetEdns0(upstreamUDPSize, clientOPT != nil && clientOPT.Do())

	var last *mdns.Msg
	for _, up := range f.upstreams {
		r, err := f.exchange(q, up)
		if err != nil {
			s.metrics.forwardErrors.WithLabelValues(up).Inc()
			s.log.Debug("upstream exchange failed", "upstream", up, "qname", q.Question[0].Name, "error", err)
			continue
		}
		last = r
		if r.Rcode == mdns.RcodeServerFailure || r.Rcode == mdns.RcodeRefused {
			continue // maybe the next upstream does better
		}
		break
	}
	if last == nil {
		s.log.Warn("all upstreams failed", "qname", q.Question[0].Name, "upstreams", f.upstreams)
		resp.Rcode = mdns.RcodeServerFailure
		return resp
	}

	last.Id = req.Id
	last.Question = []mdns.Question{req.Question[0]}
	last.Compress = true
	// The upstream's OPT describes the upstream hop; respond adds ours.
	extra := last.Extra[:0]
	for _, rr := range last.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	last.Extra = extra
	return last
}

var errMismatch = errors.New("upstream answer does not match the question")

// exchange asks one upstream over UDP and retries over TCP when the UDP
// answer is truncated.
func (f *forwarder) exchange(q *mdns.Msg, upstream string) (*mdns.Msg, error) {
	r, _, err := f.udp.Exchange(q, upstream)
	if err == nil && r.Truncated {
		r, _, err = f.tcp.Exchange(q, upstream)
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%s: timeout after %s: %w", upstream, forwardTimeout, err)
		}
		return nil, fmt.Errorf("%s: %w", upstream, err)
	}
	if !r.Response || len(r.Question) != 1 ||
		!strings.EqualFold(r.Question[0].Name, q.Question[0].Name) ||
		r.Question[0].Qtype != q.Question[0].Qtype ||
		r.Question[0].Qclass != q.Question[0].Qclass {
		return nil, fmt.Errorf("%s: %w", upstream, errMismatch)
	}
	return r, nil
}
