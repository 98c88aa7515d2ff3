package sampledb

import (
	"strings"

	"github.com/pires/go-proxyproto"
)

// Alibaba Cloud PrivateLink PROXY protocol v2 extension (NLB), as documented
// at https://www.alibabacloud.com/help/en/privatelink/obtain-real-client-information:
// one TLV of type 0xE1 per field, whose value is a one-byte subtype followed
// by the ID string:
//
//	| Type = 0xE1 | Length (2 bytes, BE) | SubType (1 byte) | ID bytes ... |
//
// Length covers SubType and the ID. The header carries up to three such TLVs.
const (
	// PP2TypeAlibaba is the TLV type Alibaba Cloud uses for its extension.
	PP2TypeAlibaba proxyproto.PP2Type = 0xE1

	// Subtypes (first byte of a PP2TypeAlibaba value).
	AlibabaSubtypeVPCID      byte = 0x01
	AlibabaSubtypeEndpointID byte = 0x02
	AlibabaSubtypeServiceID  byte = 0x03
)

// ParseAlibabaTLVs extracts the Alibaba Cloud PrivateLink IDs from the TLVs of
// a PROXY v2 header. Each 0xE1 TLV holds one subtype byte and the ID; other
// TLV types, unknown subtypes and empty values are ignored, and the first
// non-empty value of each subtype wins. Trailing NUL bytes are trimmed.
// Missing IDs are returned as "".
func ParseAlibabaTLVs(tlvs []proxyproto.TLV) (vpcID, endpointID, serviceID string) {
	for _, tlv := range tlvs {
		if tlv.Type != PP2TypeAlibaba || len(tlv.Value) < 2 {
			continue
		}
		id := strings.TrimRight(string(tlv.Value[1:]), "\x00")
		var dst *string
		switch tlv.Value[0] {
		case AlibabaSubtypeVPCID:
			dst = &vpcID
		case AlibabaSubtypeEndpointID:
			dst = &endpointID
		case AlibabaSubtypeServiceID:
			dst = &serviceID
		default:
			continue
		}
		if *dst == "" {
			*dst = id
		}
	}
	return vpcID, endpointID, serviceID
}

// AlibabaTLV builds one 0xE1 TLV holding subtype and id, the inverse of
// ParseAlibabaTLVs; it is meant for tests and for clients that emulate NLB.
func AlibabaTLV(subtype byte, id string) proxyproto.TLV {
	return proxyproto.TLV{Type: PP2TypeAlibaba, Value: append([]byte{subtype}, id...)}
}
