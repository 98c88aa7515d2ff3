package apiserver

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/privlink/privlink/internal/model"
	"github.com/privlink/privlink/internal/store"
)

// Dual-stack endpoints (docs/architecture.md, IPv6 endpoints): a dual-stack
// service's endpoint gets, in each zone whose vSwitch has a /64, an IPv6
// ENI next to the IPv4 one, claimed under ipam/<vSwitch>/<ip> in the same
// transaction (as race-free as IPv4 ENIs and host addresses).

// takeENIIPv6 allocates and claims zone's IPv6 ENI address (wantStr, or
// the lowest free one) when svc is dual-stack and vsw has a /64; it
// returns the zero address otherwise. An address asked for where none is
// given out is refused with a code.
func (a *API) takeENIIPv6(ctx context.Context, t *store.Txn, svc *model.EndpointService, vsw model.VSwitch, wantStr, owner string) (netip.Addr, error) {
	want, err := model.ParseENIIPv6(wantStr)
	if err != nil {
		return want, err
	}
	if !svc.DualStack() {
		if want.IsValid() {
			return want, model.Errorf(http.StatusBadRequest, "OperationDenied.ServiceNotDualStack",
				"service %s serves IPv4 only (addressIpVersion ipv4): its endpoints get no IPv6 address", svc.Name)
		}
		return netip.Addr{}, nil
	}
	if !vsw.Ipv6CidrBlock.IsValid() {
		if want.IsValid() {
			return want, model.Errorf(http.StatusBadRequest, "InvalidVSwitch.Ipv6NotEnabled", "vSwitch %s has no IPv6 CIDR block", vsw.VSwitchID)
		}
		return netip.Addr{}, nil // IPv4 only in this zone: documented
	}
	al, err := a.newAllocator(ctx, vsw)
	if err != nil {
		return netip.Addr{}, err
	}
	al.prefix, al.next, al.reserved = vsw.Ipv6CidrBlock, vsw.Ipv6CidrBlock.Addr(), model.ReservedIPv6
	ip, err := al.take("Zones.Ipv6Address", want)
	if err != nil {
		return ip, err
	}
	a.claim(t, vsw.VSwitchID, ip, owner)
	return ip, nil
}

// releaseZoneIPs deletes the claims of z's ENI addresses in t.
func (a *API) releaseZoneIPs(t *store.Txn, z model.EndpointZone) {
	t.Delete(a.st.IPAMKey(z.VSwitchID, z.IP))
	a.hints.release(z.VSwitchID, z.IP)
	if z.Ipv6Address.IsValid() {
		t.Delete(a.st.IPAMKey(z.VSwitchID, z.Ipv6Address))
	}
	if z.SnatIP.IsValid() {
		t.Delete(a.st.IPAMKey(model.SNATPoolKey, z.SnatIP))
	}
}

// backendInVSwitch6 requires an IPv6 backend to be a usable address of a
// dual-stack vSwitch of the provider VPC in the backend's zone.
func backendInVSwitch6(field string, vpc *model.VPC, vsws []model.VSwitch, zone string, ip netip.Addr) error {
	for _, s := range vsws {
		p := s.Ipv6CidrBlock
		if !p.IsValid() || !p.Contains(ip) {
			continue
		}
		if s.ZoneID != zone {
			return model.Invalid(field+".ZoneId", "backend %s is in vSwitch %s of zone %s, not %s", ip, s.VSwitchID, s.ZoneID, zone)
		}
		if model.ReservedIPv6(p, ip) {
			return model.Invalid(field+".Ip", "backend %s is the subnet-router or gateway address of %s", ip, p)
		}
		return nil
	}
	return model.Invalid(field+".Ip", "backend %s is in no IPv6 /64 of the service VPC %s's vSwitches", ip, vpc.VpcID)
}

// backendIP parses a backend address: IPv4, or IPv6 (not mapped, no zone).
func backendIP(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" || ip.Is4In6() {
		return ip, false
	}
	return ip, true
}
