package knat

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
)

// Adoption. Every flow's map elements carry a comment "<ID> <fingerprint>"
// (the fingerprint: a hash of everything the flow programs), and each
// table's meta set one element whose comment names the layout, the link
// and the zone (marker). Open on the tables of an earlier incarnation with the same
// marker and an intact link keeps the flows present on both sides with the
// same fingerprint, as they are: the next Apply or Change reprograms only
// the flows whose fingerprint differs from the desired one, so an owner's
// restart costs one read of each table's eps map instead of rebuilding every
// flow, and connections that survived it keep flowing. Anything else the
// tables hold (a flow on one side only, after a crash between the two
// batches; elements without a comment) is deleted; tables with another
// marker are rebuilt empty, as before adoption existed.

// layout names the shape of the tables; change it when the rules change.
const layout = "privlink-knat/1"

// metaSet holds one element whose comment is the table's marker (set
// comments do not read back with google/nftables v0.3.0); no rule uses it.
func metaSet(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: "meta", KeyType: nftables.TypeInteger}
}

func (p *Pair) addMarker(c *nftables.Conn, t *nftables.Table) {
	c.AddSet(metaSet(t), []nftables.SetElement{{Key: []byte{0, 0, 0, 0}, Comment: p.marker()}}) //nolint:errcheck // only fails for anonymous sets
}

func (p *Pair) marker() string {
	return fmt.Sprintf("%s link=%v zone=%s", layout, p.cfg.Link, p.cfg.Zone)
}

// fingerprint identifies what a flow programs (the pair's zone, which
// shapes the backend choice, is in the marker).
func (f Flow) fingerprint() string {
	b := make([]byte, 0, 128)
	b = append(append(b, f.ID...), 0)
	b, _ = f.ENI.AppendBinary(b)
	b, _ = f.SNAT.AppendBinary(b)
	b = binary.BigEndian.AppendUint64(b, f.RateBytes)
	for _, be := range f.Backends {
		b, _ = be.Addr.AppendBinary(b)
		b = append(append(b, be.Zone...), 0)
		b = strconv.AppendBool(b, be.Healthy)
	}
	b = append(b, '|')
	for _, r := range f.SG {
		b, _ = r.Source.AppendBinary(b)
		b = binary.BigEndian.AppendUint16(b, r.PortLo)
		b = binary.BigEndian.AppendUint16(b, r.PortHi)
		b = strconv.AppendBool(b, r.Accept)
		b = binary.BigEndian.AppendUint64(b, uint64(r.Priority))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func elemComment(f Flow) string { return f.ID + " " + f.fingerprint() }

// keyAddrPort decodes an ip . inet_service key (4 + 4 bytes, the port in
// the first two of the second word).
func keyAddrPort(k []byte) (netip.AddrPort, bool) {
	if len(k) < 6 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(k[:4])), binary.BigEndian.Uint16(k[4:6])), true
}

// adopt takes over what an earlier incarnation left in both tables. It
// reports false when there is nothing to adopt (a table missing, another
// marker, a map unreadable): the caller rebuilds the tables empty.
func (p *Pair) adopt() (bool, error) {
	cc, err := nftConn(p.cNS)
	if err != nil {
		return false, err
	}
	pc, err := nftConn(p.pNS)
	if err != nil {
		return false, err
	}
	for _, side := range []struct {
		c *nftables.Conn
		t *nftables.Table
	}{{cc, p.cTab}, {pc, p.pTab}} {
		es, err := side.c.GetSetElements(metaSet(side.t))
		if err != nil || len(es) != 1 || es[0].Comment != p.marker() {
			return false, nil // no table, or another layout, link or zone
		}
	}
	celems, err := cc.GetSetElements(markMap(p.cTab))
	if err != nil {
		return false, nil
	}
	pelems, err := pc.GetSetElements(epMap(p.pTab))
	if err != nil {
		return false, nil
	}
	type half struct {
		fp string
		ap netip.AddrPort // provider: SNAT . port
	}
	prov := map[string]half{}
	for _, e := range pelems {
		id, fp, ok := strings.Cut(e.Comment, " ")
		ap, ok2 := keyAddrPort(e.Key)
		if !ok || !ok2 {
			return false, nil
		}
		prov[id] = half{fp, ap}
	}
	p.flows, p.byENI, p.bySNAT = map[string]Flow{}, map[netip.AddrPort]string{}, map[snatKey]string{}
	p.marks, p.markUsed, p.fps = map[string]uint32{}, map[uint32]bool{}, map[string]string{}
	cb, pb := &batcher{c: cc, what: "consumer"}, &batcher{c: pc, what: "provider"}
	for _, e := range celems {
		id, fp, ok := strings.Cut(e.Comment, " ")
		eni, ok2 := keyAddrPort(e.Key)
		if !ok || !ok2 || len(e.Val) != 4 {
			return false, nil
		}
		mark := binaryutil.NativeEndian.Uint32(e.Val)
		if h, ok := prov[id]; ok && h.fp == fp && h.ap.Port() == eni.Port() {
			delete(prov, id)
			p.record(Flow{ID: id, ENI: eni, SNAT: h.ap.Addr()})
			p.fps[id] = fp
			p.marks[id], p.markUsed[mark] = mark, true
			continue
		}
		stale := Flow{ID: id, ENI: eni}
		if err := p.unsetConsumerFlow(cc, p.cTab, stale, mark); err != nil {
			return false, err
		}
		p.delConsumerFlow(cc, p.cTab, stale)
		if err := cb.step(); err != nil {
			return false, err
		}
	}
	for id, h := range prov {
		stale := Flow{ID: id, ENI: netip.AddrPortFrom(netip.IPv4Unspecified(), h.ap.Port()), SNAT: h.ap.Addr()}
		if err := p.unsetProviderFlow(pc, p.pTab, stale); err != nil {
			return false, err
		}
		pc.DelChain(chainRef(p.pTab, provChain(id)))
		if err := pb.step(); err != nil {
			return false, err
		}
	}
	if err := pb.flush(); err != nil {
		return false, err
	}
	if err := cb.flush(); err != nil {
		return false, err
	}
	p.adopted = len(p.flows)
	p.dirty = false
	return true, nil
}

// same reports whether the applied flow old programs what f would: for a
// flow adopted from an earlier incarnation (only its ID, ENI and SNAT
// known) by its fingerprint.
func (p *Pair) same(old, f Flow) bool {
	if fp, ok := p.fps[old.ID]; ok {
		return fp == f.fingerprint()
	}
	return old.equal(f)
}

// Adopted is the number of flows Open took over from an earlier
// incarnation (their counters hold what that incarnation counted).
func (p *Pair) Adopted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.adopted
}
