package netdrv

import (
	"fmt"
	"net/netip"
	"regexp"
)

// idRE is what VPC, vSwitch and host IDs must look like ("vpc-xxxx",
// "vsw-xxxx", "i-xxxx"). Exactly one dash: Cleanup relies on it to tell
// "<prefix>-<id>" of this driver from the names of a driver whose prefix
// merely starts with ours.
var idRE = regexp.MustCompile(`^[a-z][a-z0-9]*-[a-z0-9]+$`)

const maxIDLen = 64

func checkID(kind, id string) error {
	if len(id) > maxIDLen || !idRE.MatchString(id) {
		return fmt.Errorf("netdrv: invalid %s ID %q (want e.g. %s-<lowercase base32>)", kind, id, kind)
	}
	return nil
}

func lastN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// BridgeName is the Linux bridge name of a vSwitch inside its VPC namespace.
func BridgeName(vswID string) string { return "br-" + lastN(vswID, 8) }

// hostVethName is the VPC-side veth end of a host (15 chars max).
func hostVethName(hostID string) string { return "vh-" + lastN(hostID, 12) }

func checkVSwitch(cidr netip.Prefix, gw netip.Addr) error {
	if !cidr.IsValid() || !cidr.Addr().Is4() || cidr != cidr.Masked() || cidr.Bits() > 30 {
		return fmt.Errorf("netdrv: invalid vSwitch CIDR %s (want masked IPv4, /30 or larger)", cidr)
	}
	if !gw.Is4() || !cidr.Contains(gw) || gw == cidr.Addr() {
		return fmt.Errorf("netdrv: gateway %s not a host address of %s", gw, cidr)
	}
	return nil
}

func checkHost(h Host) error {
	if err := checkID("host", h.ID); err != nil {
		return err
	}
	if err := checkID("vpc", h.VpcID); err != nil {
		return err
	}
	if err := checkID("vswitch", h.VSwitchID); err != nil {
		return err
	}
	if err := checkVSwitch(h.Prefix, h.Gateway); err != nil {
		return err
	}
	if !h.IP.Is4() || !h.Prefix.Contains(h.IP) || h.IP == h.Prefix.Addr() || h.IP == h.Gateway {
		return fmt.Errorf("netdrv: host IP %s invalid in %s (gateway %s)", h.IP, h.Prefix, h.Gateway)
	}
	return nil
}
