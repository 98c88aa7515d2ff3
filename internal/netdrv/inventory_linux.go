package netdrv

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/privlink/privlink/internal/nsfs"
	"github.com/vishvananda/netlink"
)

// Inventory lists this driver's namespaces (VPCs and hosts under its
// prefix) and, in each VPC namespace, its vSwitch bridges and ENI /32s.
// Adopted namespaces are not listed.
func (d *NetnsDriver) Inventory() (Inventory, error) {
	var inv Inventory
	ents, err := os.ReadDir(nsfs.RunDir)
	if err != nil && !os.IsNotExist(err) {
		return inv, fmt.Errorf("netdrv: list %s: %w", nsfs.RunDir, err)
	}
	for _, e := range ents {
		id, ok := strings.CutPrefix(e.Name(), d.prefix+"-")
		if !ok || !d.ours(e.Name()) {
			continue
		}
		switch {
		case checkID("vpc", id) != nil:
		case strings.HasPrefix(id, "vpc-"):
			inv.VPCs = append(inv.VPCs, id)
		case strings.HasPrefix(id, "i-"):
			inv.Hosts = append(inv.Hosts, id)
		}
	}
	// A host's /etc/netns dir without its namespace (a crash between
	// deleting one and the other) is listed too, so it gets pruned.
	etc, err := os.ReadDir(nsfs.EtcDir)
	if err != nil && !os.IsNotExist(err) {
		return inv, fmt.Errorf("netdrv: list %s: %w", nsfs.EtcDir, err)
	}
	for _, e := range etc {
		id, ok := strings.CutPrefix(e.Name(), d.prefix+"-")
		if ok && d.ours(e.Name()) && strings.HasPrefix(id, "i-") && checkID("host", id) == nil && !slices.Contains(inv.Hosts, id) {
			inv.Hosts = append(inv.Hosts, id)
		}
	}
	for _, vpcID := range inv.VPCs {
		v, err := d.loadVPC(vpcID)
		if err != nil {
			continue
		}
		links, err := v.nl.LinkList()
		if err != nil {
			return inv, fmt.Errorf("netdrv: vpc %s: list links: %w", vpcID, err)
		}
		// One dump of the namespace's addresses, by link: a dump returns
		// every address whatever the link asked for, and the router holds
		// one /32 per ENI (50 bridges × 10,000 addresses was 0.86 s of
		// the first round after a restart).
		all, err := nsfs.RetryDump(func() ([]netlink.Addr, error) { return v.nl.AddrList(nil, netlink.FAMILY_ALL) })
		if err != nil {
			return inv, fmt.Errorf("netdrv: vpc %s: list addresses: %w", vpcID, err)
		}
		byLink := map[int][]netlink.Addr{}
		for _, a := range all {
			byLink[a.LinkIndex] = append(byLink[a.LinkIndex], a)
		}
		for _, l := range links {
			if vx, ok := l.(*netlink.Vxlan); ok && l.Attrs().Alias == vpcAlias(vpcID) {
				inv.Overlays = append(inv.Overlays, OverlayRef{VpcID: vpcID, VNI: vx.VxlanId})
			}
			vswID, ok := strings.CutPrefix(l.Attrs().Alias, aliasMark+"vsw ")
			if !ok {
				continue
			}
			inv.VSwitches = append(inv.VSwitches, VSwitchRef{VpcID: vpcID, VSwitchID: vswID})
			for _, a := range byLink[l.Attrs().Index] {
				if ones, bits := a.Mask.Size(); ones == bits && !addrOf(a).IsLinkLocalUnicast() { // ENI /32s and /128s
					inv.ENIs = append(inv.ENIs, ENIRef{VpcID: vpcID, VSwitchID: vswID, IP: addrOf(a)})
				}
			}
		}
	}
	return inv, nil
}
