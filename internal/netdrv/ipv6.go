package netdrv

import (
	"fmt"
	"net/netip"
)

// IPv6Gateway is the IPv6 gateway of a vSwitch /64: its ::1, on the
// vSwitch bridge (as model.IPv6Gateway).
func IPv6Gateway(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// checkIPv6Prefix checks a vSwitch's IPv6 prefix: a masked IPv6 /64.
func checkIPv6Prefix(p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Masked() != p || p.Bits() != 64 {
		return fmt.Errorf("netdrv: invalid vSwitch IPv6 CIDR %s (want a masked IPv6 /64)", p)
	}
	return nil
}

// checkHostIPv6 checks a host's optional IPv6 side: both fields or none,
// the address a host address of the /64 (not :: nor the ::1 gateway).
func checkHostIPv6(h Host) error {
	if !h.IP6.IsValid() && !h.Prefix6.IsValid() {
		return nil
	}
	if err := checkIPv6Prefix(h.Prefix6); err != nil {
		return err
	}
	if !h.IP6.Is6() || h.IP6.Is4In6() || h.IP6.Zone() != "" || !h.Prefix6.Contains(h.IP6) || h.IP6 == h.Prefix6.Addr() || h.IP6 == IPv6Gateway(h.Prefix6) {
		return fmt.Errorf("netdrv: host IPv6 %s invalid in %s (gateway %s)", h.IP6, h.Prefix6, IPv6Gateway(h.Prefix6))
	}
	return nil
}
