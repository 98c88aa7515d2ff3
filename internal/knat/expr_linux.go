package knat

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Small builders of nftables expressions; each returns the expressions of
// one match or action, to be concatenated into a rule.

type exprs = []expr.Any

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

func port16(p uint16) []byte { return binaryutil.BigEndian.PutUint16(p) }

func ip4(a netip.Addr) []byte { b := a.As4(); return b[:] }

func cmpEq(reg uint32, data []byte) *expr.Cmp {
	return &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data}
}

func iif(n string) exprs {
	return exprs{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, cmpEq(1, ifname(n))}
}

func oif(n string) exprs {
	return exprs{&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, cmpEq(1, ifname(n))}
}

func tcp() exprs {
	return exprs{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpEq(1, []byte{unix.IPPROTO_TCP})}
}

func daddr(a netip.Addr) exprs {
	return exprs{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}, cmpEq(1, ip4(a))}
}

func saddrIn(p netip.Prefix) exprs {
	p = p.Masked()
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	if p.Bits() == 0 {
		mask = []byte{0, 0, 0, 0}
	}
	return exprs{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		cmpEq(1, ip4(p.Addr())),
	}
}

func dport(p uint16) exprs {
	return exprs{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}, cmpEq(1, port16(p))}
}

func ctOrigDstAddr(a netip.Addr) exprs {
	return exprs{&expr.Ct{Register: 1, Key: expr.CtKeyDST, Direction: 0}, cmpEq(1, ip4(a))}
}

func ctBits(key expr.CtKey, bits uint32) exprs {
	return exprs{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func ctState(bits uint32) exprs { return ctBits(expr.CtKeySTATE, bits) }

const ipsDstNAT = 1 << 5 // IPS_DST_NAT

func ctDNATed() exprs { return ctBits(expr.CtKeySTATUS, ipsDstNAT) }

// markBase is or-ed into the conntrack marks of the pair's connections;
// markMask covers it (markOf keeps a flow's own bits below).
const (
	markBase = 0x7e000000
	markMask = 0xff000000
)

func ctReply() exprs {
	return exprs{&expr.Ct{Register: 1, Key: expr.CtKeyDIRECTION}, cmpEq(1, []byte{1})}
}

// synOnly matches a TCP segment with SYN and without ACK (a connection
// attempt).
func synOnly() exprs {
	return exprs{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x12}, Xor: []byte{0}},
		cmpEq(1, []byte{0x02}),
	}
}

func counterRef(name string) exprs { return exprs{&expr.Objref{Type: 1, Name: name}} }

func limitOver(rate uint64) exprs {
	// The kernel's bucket holds one second at the rate plus the burst; the
	// burst lets a 64 KiB GSO packet through even at tiny rates.
	return exprs{&expr.Limit{Type: expr.LimitTypePktBytes, Rate: rate, Over: true, Unit: expr.LimitTimeSecond, Burst: 64 << 10}}
}

func verdict(k expr.VerdictKind) exprs { return exprs{&expr.Verdict{Kind: k}} }

func gotoChain(chain string) exprs {
	return exprs{&expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}}
}

func tcpReset() exprs { return exprs{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}} }

func dnatTo(ap netip.AddrPort) exprs {
	return exprs{
		&expr.Immediate{Register: 1, Data: ip4(ap.Addr())},
		&expr.Immediate{Register: 2, Data: port16(ap.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

func snatTo(a netip.Addr) exprs {
	return exprs{
		&expr.Immediate{Register: 1, Data: ip4(a)},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	}
}

// dnatPick adds two anonymous maps (index → address, index → port) to the
// batch and returns a DNAT that picks one of backends at random per new
// connection (numgen random mod n), like `dnat to numgen random mod n map`.
func dnatPick(c *nftables.Conn, t *nftables.Table, backends []netip.AddrPort) (exprs, error) {
	if len(backends) == 1 {
		return dnatTo(backends[0]), nil
	}
	addrs := &nftables.Set{Table: t, Anonymous: true, Constant: true, IsMap: true,
		KeyType: nftables.TypeInteger, DataType: nftables.TypeIPAddr, KeyByteOrder: binaryutil.NativeEndian}
	ports := &nftables.Set{Table: t, Anonymous: true, Constant: true, IsMap: true,
		KeyType: nftables.TypeInteger, DataType: nftables.TypeInetService, KeyByteOrder: binaryutil.NativeEndian}
	var ae, pe []nftables.SetElement
	for i, b := range backends {
		k := binaryutil.NativeEndian.PutUint32(uint32(i))
		ae = append(ae, nftables.SetElement{Key: k, Val: ip4(b.Addr())})
		pe = append(pe, nftables.SetElement{Key: k, Val: port16(b.Port())})
	}
	if err := c.AddSet(addrs, ae); err != nil {
		return nil, err
	}
	if err := c.AddSet(ports, pe); err != nil {
		return nil, err
	}
	return exprs{
		&expr.Numgen{Register: 1, Modulus: uint32(len(backends)), Type: unix.NFT_NG_RANDOM},
		&expr.Lookup{SourceRegister: 1, DestRegister: 2, IsDestRegSet: true, SetName: addrs.Name, SetID: addrs.ID},
		&expr.Lookup{SourceRegister: 1, DestRegister: 3, IsDestRegSet: true, SetName: ports.Name, SetID: ports.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 2, RegProtoMin: 3, Specified: true},
	}, nil
}

// loadDaddrDport loads ip daddr . tcp dport into registers 1 and 9 (the
// concatenation a set lookup on register 1 reads).
func loadDaddrDport() exprs {
	return exprs{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// loadSaddrDport loads ip saddr . tcp dport likewise.
func loadSaddrDport() exprs {
	return exprs{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// vmapLookup looks register 1 up in a verdict map.
func vmapLookup(set *nftables.Set) exprs {
	return exprs{&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: set.Name, SetID: set.ID}}
}

func cat(parts ...exprs) exprs {
	var out exprs
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
