package aliyun

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/model"
)

// Dual-stack endpoints on Alibaba's API (docs/alibaba-api.md): a service's
// address families are AddressIpVersion (IPv4 | DualStack) or the older
// ServiceSupportIPv6 (true = DualStack) on CreateVpcEndpointService and
// UpdateVpcEndpointServiceAttribute, answered as ServiceSupportIPv6 (what
// the pinned SDK reads); an endpoint zone's IPv6 ENI is Zone.N.Ipv6Address
// (asked for) and ZoneIpv6Address (answered); security-group rules take
// Ipv6SourceCidrIp; NotifyResourceAddressFamily switches the services
// that use a resource.

// addressIPVersion reads the service's address families; nil: not given.
func (c *call) addressIPVersion() (*string, error) {
	var out *string
	if v := c.p.str("AddressIpVersion"); v != "" {
		p, err := model.ParseAddressIPVersion(v)
		if err != nil {
			return nil, err
		}
		out = &p
	}
	support, err := c.p.optBool("ServiceSupportIPv6")
	if err != nil || support == nil {
		return out, err
	}
	v := model.AddressIPv4
	if *support {
		v = model.AddressDualStack
	}
	if out != nil && *out != v {
		return nil, model.Invalid("ServiceSupportIPv6", "ServiceSupportIPv6=%v contradicts AddressIpVersion=%s", *support, c.p.str("AddressIpVersion"))
	}
	return &v, nil
}

// endpointIPVersion checks CreateVpcEndpoint's AddressIpVersion: an
// endpoint's families follow its service's and its vSwitches' (an IPv6
// ENI where both are dual-stack), so the value is only checked.
func (c *call) endpointIPVersion() error {
	if v := c.p.str("AddressIpVersion"); v != "" {
		if _, err := model.ParseAddressIPVersion(v); err != nil {
			return err
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// ruleSource is a rule's source: SourceCidrIp or Ipv6SourceCidrIp, not both.
func ruleSource(get func(string) string) (string, error) {
	v4, v6 := get("SourceCidrIp"), get("Ipv6SourceCidrIp")
	if v4 != "" && v6 != "" {
		return "", model.Invalid("SourceCidrIp", "give SourceCidrIp or Ipv6SourceCidrIp, not both")
	}
	if v6 != "" {
		if p, err := netip.ParsePrefix(v6); (err != nil || !p.Addr().Is6()) && !isIPv6(v6) {
			return "", model.Invalid("Ipv6SourceCidrIp", "%q is not an IPv6 CIDR", v6)
		}
		return v6, nil
	}
	return v4, nil
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

// v4Source and v6Source split a stored rule source by family.
func v4Source(s string) string {
	if strings.Contains(s, ":") {
		return ""
	}
	return s
}

func v6Source(s string) string {
	if strings.Contains(s, ":") {
		return s
	}
	return ""
}

// notifyResourceAddressFamily sets AddressFamily (IPv4 | DualStack) on
// every one of the caller's services that has the resource ResourceId (a
// backend IP:PORT or a load balancer ID, as ResourceType backend | nlb).
// Ipv6Address is refused: a backend's IPv6 address is a resource of its
// own ([IPV6]:PORT), privlink's load balancers are IPv4.
func notifyResourceAddressFamily(c *call) (response, error) {
	id, err := c.p.required("ResourceId")
	if err != nil {
		return nil, err
	}
	fam, err := c.p.required("AddressFamily")
	if err != nil {
		return nil, err
	}
	version, err := model.ParseAddressIPVersion(fam)
	if err != nil {
		return nil, model.Invalid("AddressFamily", "AddressFamily %q must be IPv4 or DualStack", fam)
	}
	if t := strings.ToLower(c.p.str("ResourceType")); t != "" && t != ResourceTypeNLB && t != ResourceTypeBackend {
		return nil, model.Errorf(http.StatusBadRequest, "OperationUnsupported", "ResourceType %q is not supported: privlink's service resources are load balancers (nlb) and backends (backend)", c.p.str("ResourceType"))
	}
	if err := c.p.unsupported("Ipv6Address", "add the backend's IPv6 address as a resource of its own (ResourceType=backend, ResourceId=[IPV6]:PORT)"); err != nil {
		return nil, err
	}
	all, err := c.c.ListServices(c.ctx) // the caller's own
	if err != nil {
		return nil, err
	}
	var hits []api.EndpointService
	for _, s := range all {
		if hasResource(s, id) {
			hits = append(hits, s)
		}
	}
	if len(hits) == 0 {
		return nil, model.Errorf(http.StatusNotFound, "ResourceNotFound", "no service of yours has the resource %s", id)
	}
	for _, s := range hits {
		if _, err := c.c.UpdateService(c.ctx, s.ServiceID, api.UpdateServiceRequest{AddressIPVersion: &version}); err != nil {
			return nil, err
		}
	}
	return &Base{}, nil
}

// hasResource reports whether id is one of s's load balancers or backends.
func hasResource(s api.EndpointService, id string) bool {
	if slices.Contains(s.LoadBalancerIDs, id) {
		return true
	}
	for _, b := range s.Resources {
		if netip.AddrPortFrom(b.IP, uint16(b.Port)).String() == id || b.IP.String() == id {
			return true
		}
	}
	return false
}
