package model

import "slices"

// The PROXY protocol v2 TLVs a service may send (Alibaba's type 0xE1
// subtypes), by the names the API uses.
const (
	TLVVpcID      = "vpcId"      // the consumer's VPC
	TLVEndpointID = "endpointId" // the endpoint
	TLVServiceID  = "serviceId"  // the service
)

// ProxyTLVNames lists every TLV name, in the order they are sent.
var ProxyTLVNames = []string{TLVVpcID, TLVEndpointID, TLVServiceID}

// DefaultProxyTLVs is what a service sends when it does not choose: the
// VPC and endpoint IDs. With IPv4 addresses the header is 83 bytes, with
// IPv6 107, so nginx before 1.23 (which reads at most 107 bytes) accepts it;
// all three TLVs make 113 bytes with IPv4, which it refuses.
var DefaultProxyTLVs = []string{TLVVpcID, TLVEndpointID}

// ProxyTLVs is the TLV selection the data plane applies: the service's
// own, or DefaultProxyTLVs for a record written before services could
// choose (nil). An empty, non-nil list means no TLVs.
func (s EndpointService) ProxyTLVs() []string {
	if s.ProxyProtocolTLVs == nil {
		return DefaultProxyTLVs
	}
	return s.ProxyProtocolTLVs
}

// ValidateProxyTLVs checks a TLV selection: known names, each at most once.
func ValidateProxyTLVs(field string, tlvs []string) error {
	for i, t := range tlvs {
		if !slices.Contains(ProxyTLVNames, t) {
			return Invalid(field, "unknown PROXY protocol TLV %q (choose from %v)", t, ProxyTLVNames)
		}
		if slices.Contains(tlvs[:i], t) {
			return Invalid(field, "PROXY protocol TLV %q is listed twice", t)
		}
	}
	return nil
}

// SortProxyTLVs returns tlvs in ProxyTLVNames order (the order on the wire).
func SortProxyTLVs(tlvs []string) []string {
	out := make([]string, 0, len(tlvs))
	for _, n := range ProxyTLVNames {
		if slices.Contains(tlvs, n) {
			out = append(out, n)
		}
	}
	return out
}
