package dns

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
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

// compiledSnapshot is the query-time form of a Snapshot.
type compiledSnapshot struct {
	revision int64
	serial   uint32
	loaded   time.Time
	views    map[string]*view
}

// view is one VPC's records.
type view struct {
	names map[string][]netip.Addr // lower-case FQDN -> IPv4 addresses (deduplicated)
	// names6 are the IPv6 addresses (AAAA) of names; a name with only
	// IPv6 addresses is in names too, with none.
	names6 map[string][]netip.Addr
	ents   map[string]struct{} // empty non-terminals: ancestors of names, below the apex
}

type compileStats struct {
	names, skippedNames, skippedAddrs int
}

// serialFromRevision maps a store revision to an SOA serial. Revisions only
// grow, so keeping the low 32 bits keeps serials increasing in RFC 1982
// serial-number arithmetic even after the revision passes 2^32.
func serialFromRevision(rev int64) uint32 {
	if rev < 0 {
		return 0
	}
	return uint32(rev)
}

// compile turns snap into lookup tables: names are normalised (lower case,
// trailing dot), IPv4 addresses answer A and IPv6 ones AAAA, invalid and
// zoned ones are dropped (names outside the zone are
// kept: a VPC view may publish a service name such as
// com.privlink.cn-hangzhou.epsrv-x, answered for that exact name only),
// and empty non-terminals are precomputed so that lookups are O(1).
func compile(zone string, snap *Snapshot) (*compiledSnapshot, compileStats) {
	var st compileStats
	c := &compiledSnapshot{
		revision: snap.Revision,
		serial:   serialFromRevision(snap.Revision),
		loaded:   time.Now(),
		views:    make(map[string]*view, len(snap.Views)),
	}
	for vpcID, names := range snap.Views {
		v := &view{names: make(map[string][]netip.Addr, len(names)), names6: map[string][]netip.Addr{}, ents: make(map[string]struct{})}
		for name, addrs := range names {
			n := strings.ToLower(mdns.Fqdn(name))
			if _, ok := mdns.IsDomainName(n); !ok {
				st.skippedNames++
				continue
			}
			a, a6 := v.names[n], v.names6[n] // two spellings of one name are merged
			for _, ip := range addrs {
				ip = ip.Unmap()
				switch {
				case ip.Is4():
					a = append(a, ip)
				case ip.Is6() && ip.Zone() == "":
					a6 = append(a6, ip)
				default:
					st.skippedAddrs++
				}
			}
			slices.SortFunc(a, netip.Addr.Compare)
			v.names[n] = slices.Compact(a)
			if len(a6) > 0 {
				slices.SortFunc(a6, netip.Addr.Compare)
				v.names6[n] = slices.Compact(a6)
			}
		}
		for n := range v.names {
			if !inZone(n, zone) {
				continue // extra names (service names) answer exact matches only
			}
			idx := mdns.Split(n)
			for _, i := range idx[1:] {
				anc := n[i:]
				if len(anc) <= len(zone) {
					break
				}
				if _, ok := v.names[anc]; !ok {
					v.ents[anc] = struct{}{}
				}
			}
		}
		st.names += len(v.names)
		c.views[vpcID] = v
	}
	return c, st
}

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

	resp := s.respond(h.vpc, req)
	if resp == nil {
		return // not a query: stay silent
	}
	packet := h.isPacket(w)
	if packet {
		resp.Truncate(s.udpSize(req))
	} else {
		resp.Truncate(mdns.MaxMsgSize)
	}
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
		resp = s.resolve(vpcID, req, resp)
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
func (s *Server) resolve(vpcID string, req, resp *mdns.Msg) *mdns.Msg {
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
		s.authoritative(resp, snap, vpcID, q, name)
		return resp
	}
	if s.fwd == nil {
		resp.Rcode = mdns.RcodeRefused
		return resp
	}
	return s.forward(req, resp)
}

// authoritative fills resp for the in-zone name (lower-cased qname).
func (s *Server) authoritative(resp *mdns.Msg, snap *compiledSnapshot, vpcID string, q mdns.Question, name string) {
	resp.Authoritative = true
	owner := q.Name // answer with the spelling the client used
	var (
		addrs, addrs6 []netip.Addr
		exists        bool
		isENT         bool
	)
	if v := snap.views[vpcID]; v != nil {
		addrs, exists = v.names[name]
		addrs6 = v.names6[name]
		if !exists {
			_, isENT = v.ents[name]
		}
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
			resp.Answer = s.appendA(resp.Answer, owner, addrs)
			resp.Answer = s.appendAAAA(resp.Answer, owner, addrs6)
		case mdns.TypeA:
			resp.Answer = s.appendA(resp.Answer, owner, addrs)
		case mdns.TypeAAAA:
			resp.Answer = s.appendAAAA(resp.Answer, owner, addrs6)
		}
	case exists:
		if q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeANY {
			resp.Answer = s.appendA(resp.Answer, owner, addrs)
		}
		if q.Qtype == mdns.TypeAAAA || q.Qtype == mdns.TypeANY {
			resp.Answer = s.appendAAAA(resp.Answer, owner, addrs6)
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

// appendA appends one A record per address, rotated round-robin so that
// clients which take the first address spread over the endpoints.
func (s *Server) appendA(rrs []mdns.RR, owner string, addrs []netip.Addr) []mdns.RR {
	n := len(addrs)
	if n == 0 {
		return rrs
	}
	start := int(s.rotate.Add(1) % uint32(n))
	for i := range n {
		ip := addrs[(start+i)%n].As4()
		rrs = append(rrs, &mdns.A{
			Hdr: mdns.RR_Header{Name: owner, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: s.ttl},
			A:   net.IP(ip[:]),
		})
	}
	return rrs
}

// appendAAAA appends one AAAA record per IPv6 address, rotated like appendA.
func (s *Server) appendAAAA(rrs []mdns.RR, owner string, addrs []netip.Addr) []mdns.RR {
	n := len(addrs)
	if n == 0 {
		return rrs
	}
	start := int(s.rotate.Add(1) % uint32(n))
	for i := range n {
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
	_, ok := v.names[name]
	return ok
}
