package knat

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Sweep deletes, in the namespace at nsPath, every table and veth that a
// Pair creates (tables "privlink_knat_<ID>", links "plk-<ID>") whose ID is
// not in keep, and the conntrack entries of connections that crossed such
// a link: what a crashed owner left behind. Nothing else is touched.
// It returns the IDs it removed.
func Sweep(nsPath string, keep map[string]bool) ([]string, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open namespace: %w", err)
	}
	defer ns.Close()
	var removed []string
	var errs []error
	c, err := nftConn(ns)
	if err != nil {
		return nil, err
	}
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for _, t := range ts {
		id, ok := strings.CutPrefix(t.Name, TableName(""))
		if !ok || keep[id] {
			continue
		}
		c.DelTable(t)
		if err := c.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("delete table %s: %w", t.Name, err))
			continue
		}
		removed = append(removed, id)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	for _, l := range links {
		id, ok := strings.CutPrefix(l.Attrs().Name, LinkName(""))
		if !ok || keep[id] || l.Type() != "veth" {
			continue
		}
		addrs, _ := h.AddrList(l, netlink.FAMILY_V4)
		if err := h.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", l.Attrs().Name, err))
			continue
		}
		for _, a := range addrs {
			if p, ok := netipx(a.IPNet); ok {
				errs = append(errs, flushLinkConntrack(ns, p))
			}
		}
		if !slices.Contains(removed, id) {
			removed = append(removed, id)
		}
	}
	return removed, errors.Join(errs...)
}

func netipx(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits).Masked(), true
}

// flushLinkConntrack deletes the connections that crossed a (deleted)
// pair link: in the consumer namespace their reply comes from the link, in
// the provider namespace they were addressed to it.
func flushLinkConntrack(ns netns.NsHandle, link netip.Prefix) error {
	c, err := ctConn(ns)
	if err != nil {
		return err
	}
	defer c.Close()
	fs, err := c.Dump(nil)
	if err != nil {
		return fmt.Errorf("dump conntrack: %w", err)
	}
	var errs []error
	for _, f := range fs {
		if link.Contains(f.TupleOrig.IP.DestinationAddress) || link.Contains(f.TupleReply.IP.SourceAddress) {
			if err := c.Delete(f); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
