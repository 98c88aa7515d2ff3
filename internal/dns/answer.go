package dns

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// SOA timers. Nothing transfers this zone, so these only need to be sane.
const (
	soaRefresh = 3600
	soaRetry   = 600
	soaExpire  = 86400
)

// inZone reports whether the lower-case FQDN name is zone or below it.
func inZone(name, zone string) bool {
	if name == zone {
		return true
	}
	if len(name) <= len(zone) || !strings.HasSuffix(name, zone) || name[len(name)-len(zone)-1] != '.' {
		return false
	}
	// The dot before the zone must not be an escaped "\." inside a label.
	bs := 0
	for i := len(name) - len(zone) - 2; i >= 0 && name[i] == '\\'; i-- {
		bs++
	}
	return bs%2 == 0
}

type transport uint8

const (
	transportAuto   transport = iota // derive from the ResponseWriter
	transportPacket                  // UDP: honour the client's buffer size
	transportStream                  // TCP: full answers
)

type handler struct {
	s         *Server
	vpc       string
	transport transport
}

// ServeDNS implements mdns.Handler.
func (h *handler) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	s := h.s
	if !s.noRecover {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic while answering query", "vpc", h.vpc, "panic", p)
				if req != nil {
					m := new(mdns.Msg)
					m.SetRcode(req, mdns.RcodeServerFailure)
					m.Question = nil
					_ = w.WriteMsg(m)
				}
			}
		}()
	}
	var start time.Time
	debug := s.log.Enabled(context.Background(), slog.LevelDebug)
	if debug {
		start = time.Now()
	}

	packet := h.isPacket(w)
	limit := mdns.MaxMsgSize
	if packet {
		limit = s.udpSize(req)
	}
	resp := s.respondWithin(h.vpc, req, limit)
	if resp == nil {
		return // not a query: stay silent
	}
	resp.Truncate(limit)
	err := w.WriteMsg(resp)

	var qtype uint16
	hasQ := len(req.Question) == 1
	if hasQ {
		qtype = req.Question[0].Qtype
	}
	s.metrics.observe(qtype, hasQ, resp.Rcode)
	if debug {
		attrs := []slog.Attr{
			slog.String("vpc", h.vpc),
			slog.String("rcode", rcodeLabel(resp.Rcode)),
			slog.Int("answers", len(resp.Answer)),
			slog.Bool("tc", resp.Truncated),
			slog.Bool("udp", packet),
			slog.Duration("took", time.Since(start)),
		}
		if hasQ {
			attrs = append(attrs, slog.String("qname", req.Question[0].Name), slog.String("qtype", qtypeLabel(qtype)))
		}
		if ra := w.RemoteAddr(); ra != nil {
			attrs = append(attrs, slog.String("client", ra.String()))
		}
		if err != nil {
			attrs = append(attrs, slog.String("write_error", err.Error()))
		}
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "query", attrs...)
	}
}

func (h *handler) isPacket(w mdns.ResponseWriter) bool {
	switch h.transport {
	case transportPacket:
		return true
	case transportStream:
		return false
	}
	la := w.LocalAddr()
	if la == nil {
		return true
	}
	switch la.(type) {
	case *net.TCPAddr:
		return false
	case *net.UDPAddr:
		return true
	}
	n := la.Network()
	return !(strings.HasPrefix(n, "tcp") || n == "unix")
}

// udpSize is the largest UDP response the client accepts: its EDNS0 buffer
// size (at least 512), capped at our own maximum; 512 without EDNS0.
func (s *Server) udpSize(req *mdns.Msg) int {
	size := mdns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(int(opt.UDPSize()), mdns.MinMsgSize)
	}
	return min(size, int(s.maxUDP))
}

// respond builds the response to req, or returns nil when req must not be
// answered (it is a response itself).
func (s *Server) respond(vpcID string, req *mdns.Msg) *mdns.Msg {
	return s.respondWithin(vpcID, req, mdns.MaxMsgSize)
}

// respondWithin is respond for a response that will be cut to limit
// bytes: it builds no more address records than could fit (plus one, so
// that the cut still sets TC), so a name with thousands of addresses
// costs what fits, not what it holds.
func (s *Server) respondWithin(vpcID string, req *mdns.Msg, limit int) *mdns.Msg {
	if req == nil || req.Response {
		return nil
	}
	opt, nOPT := requestOPT(req)

	resp := new(mdns.Msg)
	resp.SetReply(req)
	resp.Compress = true
	resp.RecursionAvailable = s.fwd != nil

	switch {
	case req.Opcode != mdns.OpcodeQuery:
		resp.Rcode = mdns.RcodeNotImplemented
	case len(req.Question) != 1 || !mdns.IsFqdn(req.Question[0].Name):
		resp.Rcode = mdns.RcodeFormatError
		resp.Question = nil
	case nOPT > 1: // RFC 6891 6.1.1
		resp.Rcode = mdns.RcodeFormatError
		opt = nil
	case opt != nil && opt.Version() != 0:
		resp.Rcode = mdns.RcodeBadVers
	default:
		resp = s.resolve(vpcID, req, resp, limit)
	}

	if opt != nil {
		resp.SetEdns0(s.maxUDP, opt.Do())
	} else if resp.Rcode > 0xF {
		// An extended rcode cannot be expressed without OPT.
		resp.Rcode = mdns.RcodeServerFailure
	}
	return resp
}

// requestOPT returns the request's OPT record and how many there are.
func requestOPT(req *mdns.Msg) (*mdns.OPT, int) {
	var opt *mdns.OPT
	n := 0
	for _, rr := range req.Extra {
		if o, ok := rr.(*mdns.OPT); ok {
			opt = o
			n++
		}
	}
	return opt, n
}

// resolve answers a well-formed single-question query. resp is the prepared
// reply; the returned message (resp or a relayed upstream answer) carries no
// OPT record.
func (s *Server) resolve(vpcID string, req, resp *mdns.Msg, limit int) *mdns.Msg {
	snap := s.snap.Load()
	if snap == nil {
		resp.Rcode = mdns.RcodeServerFailure
		return resp
	}
	q := req.Question[0]
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		resp.Rcode = mdns.RcodeRefused
		return resp
	}
	if q.Qtype == mdns.TypeAXFR || q.Qtype == mdns.TypeIXFR {
		resp.Rcode = mdns.RcodeRefused // no zone transfers, in or out of zone
		return resp
	}
	name := strings.ToLower(mdns.Fqdn(q.Name))
	if inZone(name, s.zone) || snap.has(vpcID, name) {
		s.authoritative(resp, snap, vpcID, q, name, limit)
		return resp
	}
	if s.fwd == nil {
		resp.Rcode = mdns.RcodeRefused
		return resp
	}
	return s.forward(req, resp)
}

// authoritative fills resp for the in-zone name (lower-cased qname).
func (s *Server) authoritative(resp *mdns.Msg, snap *compiledSnapshot, vpcID string, q mdns.Question, name string, limit int) {
	maxRRs := limit/minAddrRRSize + 1
	resp.Authoritative = true
	owner := q.Name // answer with the spelling the client used
	var (
		addrs, addrs6 []netip.Addr
		exists        bool
		isENT         bool
	)
	if v := snap.views[vpcID]; v != nil {
		addrs, addrs6, exists, isENT = v.lookup(name)
	}

	switch {
	case name == s.zone:
		switch q.Qtype {
		case mdns.TypeSOA:
			resp.Answer = append(resp.Answer, s.soa(owner, snap.serial))
		case mdns.TypeNS:
			resp.Answer = append(resp.Answer, s.ns(owner))
		case mdns.TypeANY:
			resp.Answer = append(resp.Answer, s.soa(owner, snap.serial), s.ns(owner))
			resp.Answer = s.appendA(resp.Answer, owner, addrs, maxRRs)
			resp.Answer = s.appendAAAA(resp.Answer, owner, addrs6, maxRRs)
		case mdns.TypeA:
			resp.Answer = s.appendA(resp.Answer, owner, addrs, maxRRs)
		case mdns.TypeAAAA:
			resp.Answer = s.appendAAAA(resp.Answer, owner, addrs6, maxRRs)
		}
	case exists:
		if q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY {
			resp.Answer = s.appendA(resp.Answer, owner, addrs, maxRRs)
		}
		if q.Qtype == mdns.TypeAAAA || q.Qtype == mdns.TypeANY {
			resp.Answer = s.appendAAAA(resp.Answer, owner, addrs6, maxRRs)
		}
	case isENT || name == s.nsName:
		// The name exists (has descendants, or is our NS) but holds no
		// data for any type: NODATA.
	default:
		resp.Rcode = mdns.RcodeNameError
	}
	if len(resp.Answer) == 0 {
		// Negative answer (NXDOMAIN or NODATA): the SOA tells resolvers
		// how long to cache it (RFC 2308).
		resp.Ns = append(resp.Ns, s.soa(s.zone, snap.serial))
	}
}

// minAddrRRSize is the smallest an A or AAAA record is on the wire: a
// compressed owner (2), type, class, TTL, length (10) and 4 bytes of
// address. A response with more than limit/minAddrRRSize of them does
// not fit in limit bytes.
const minAddrRRSize = 16

// appendA appends one A record per address, at most maxRRs, rotated
// round-robin so that clients which take the first address spread over
// the endpoints (and, when not all fit, see different ones).
func (s *Server) appendA(rrs []mdns.RR, owner string, addrs []netip.Addr, maxRRs int) []mdns.RR {
	n := len(addrs)
	if n == 0 {
		return rrs
	}
	start := int(s.rotate.Add(1) % uint32(n))
	for i := range min(n, maxRRs) {
		ip := addrs[(start+i)%n].As4()
		rrs = append(rrs, &mdns.A{
			Hdr: mdns.RR_Header{Name: owner, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: s.ttl},
			A:   net.IP(ip[:]),
		})
	}
	return rrs
}

// appendAAAA appends one AAAA record per IPv6 address, at most maxRRs,
// rotated like appendA.
func (s *Server) appendAAAA(rrs []mdns.RR, owner string, addrs []netip.Addr, maxRRs int) []mdns.RR {
	n := len(addrs)
	if n == 0 {
		return rrs
	}
	start := int(s.rotate.Add(1) % uint32(n))
	for i := range min(n, maxRRs) {
		ip := addrs[(start+i)%n].As16()
		rrs = append(rrs, &mdns.AAAA{
			Hdr:  mdns.RR_Header{Name: owner, Rrtype: mdns.TypeAAAA, Class: mdns.ClassINET, Ttl: s.ttl},
			AAAA: net.IP(ip[:]),
		})
	}
	return rrs
}

func (s *Server) soa(owner string, serial uint32) *mdns.SOA {
	return &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: owner, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: s.ttl},
		Ns:      s.nsName,
		Mbox:    s.hostmaster,
		Serial:  serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  s.ttl,
	}
}

func (s *Server) ns(owner string) *mdns.NS {
	return &mdns.NS{
		Hdr: mdns.RR_Header{Name: owner, Rrtype: mdns.TypeNS, Class: mdns.ClassINET, Ttl: s.ttl},
		Ns:  s.nsName,
	}
}

// has reports whether a view publishes exactly this name.
func (c *compiledSnapshot) has(vpcID, name string) bool {
	v := c.views[vpcID]
	if v == nil {
		return false
	}
	v.mu.RLock()
	_, ok := v.names[name]
	v.mu.RUnlock()
	return ok
}
