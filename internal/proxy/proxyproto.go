package proxy

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	proxyproto "github.com/pires/go-proxyproto"
)

// PROXY protocol v2 TLVs in the Alibaba Cloud PrivateLink layout: every
// value is sent as its own TLV of type TLVTypeAlibaba whose value is one
// subtype byte followed by the string.
const (
	TLVTypeAlibaba     proxyproto.PP2Type = 0xE1
	TLVSubtypeVpcID    byte               = 0x01
	TLVSubtypeEndpoint byte               = 0x02
	TLVSubtypeService  byte               = 0x03
)

// TLVSet chooses which of the Alibaba TLVs a PROXY header carries.
type TLVSet struct{ VpcID, EndpointID, ServiceID bool }

// AllTLVs sends the VPC, endpoint and service IDs.
var AllTLVs = TLVSet{VpcID: true, EndpointID: true, ServiceID: true}

// pick blanks the IDs the set leaves out (encodeTLVs omits empty values).
func (s TLVSet) pick(vpcID, endpointID, serviceID string) (string, string, string) {
	keep := func(on bool, v string) string {
		if on {
			return v
		}
		return ""
	}
	return keep(s.VpcID, vpcID), keep(s.EndpointID, endpointID), keep(s.ServiceID, serviceID)
}

// v2 header constants (see the PROXY protocol spec, section 2.2).
var ppSignature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

const (
	ppVersionProxy = 0x21 // version 2, PROXY command
	ppTCP4         = byte(proxyproto.TCPv4)
	ppTCP6         = byte(proxyproto.TCPv6)
)

// encodeTLVs encodes the Alibaba TLVs once per config; empty values are
// omitted.
func encodeTLVs(vpcID, endpointID, serviceID string) ([]byte, error) {
	var tlvs []proxyproto.TLV
	for _, v := range []struct {
		sub byte
		val string
	}{{TLVSubtypeVpcID, vpcID}, {TLVSubtypeEndpoint, endpointID}, {TLVSubtypeService, serviceID}} {
		if v.val == "" {
			continue
		}
		tlvs = append(tlvs, proxyproto.TLV{Type: TLVTypeAlibaba, Value: append([]byte{v.sub}, v.val...)})
	}
	raw, err := proxyproto.JoinTLVs(tlvs)
	if err != nil {
		return nil, fmt.Errorf("proxy: encode PROXY v2 TLVs: %w", err)
	}
	if max := int(proxyproto.MaxV2HeaderSize) - 36; len(raw) > max {
		return nil, fmt.Errorf("proxy: PROXY v2 TLVs are %d bytes, limit %d", len(raw), max)
	}
	return raw, nil
}

// appendProxyHeader appends a PROXY v2 header (PROXY command, TCP over IPv4
// when both addresses are IPv4, IPv6 otherwise with IPv4 addresses mapped)
// for a connection from src to dst, followed by the pre-encoded tlvs.
// It is the hand-rolled, allocation-free equivalent of
// proxyproto.HeaderProxyFromAddrs(2, src, dst) + SetTLVs + Format.
func appendProxyHeader(b []byte, src, dst netip.AddrPort, tlvs []byte) []byte {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	v4 := sa.Is4() && da.Is4()
	fam, addrLen := ppTCP6, 36
	if v4 {
		fam, addrLen = ppTCP4, 12
	}
	b = append(b, ppSignature[:]...)
	b = append(b, ppVersionProxy, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(addrLen+len(tlvs)))
	if v4 {
		s, d := sa.As4(), da.As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	} else {
		s, d := sa.As16(), da.As16() // As16 maps IPv4 to ::ffff:a.b.c.d
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	return append(b, tlvs...)
}
