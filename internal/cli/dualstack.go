package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
)

// Dual-stack endpoints: the service's address families, the zones' IPv6
// ENIs. The tables get their IPv6 columns here so the shared column block
// in resources.go stays untouched.
func init() {
	svcCols = insertCol(svcCols, "AUTO ACCEPT", col{"IP VERSION", "addressIpVersion"})
	epCols = insertCol(epCols, "ZONE DOMAINS", col{"IPV6", "zones.ipv6Address"})
	connCols = insertCol(connCols, "BANDWIDTH", col{"IPV6", "zones.ipv6Address"})
}

const ipVersionHelp = "address families: ipv4, or dualstack (endpoints in dual-stack vSwitches also get an IPv6 address and AAAA records)"

// ipVersionCreateFlag adds --address-ip-version to service create.
func ipVersionCreateFlag(create *cobra.Command, req *api.CreateServiceRequest) {
	create.Flags().StringVar(&req.AddressIPVersion, "address-ip-version", "", ipVersionHelp+" (default ipv4)")
}

// ipVersionUpdateFlag adds --address-ip-version to service update; set
// fills r from it when given.
func ipVersionUpdateFlag(update *cobra.Command) (set func(cmd *cobra.Command, r *api.UpdateServiceRequest)) {
	var v string
	update.Flags().StringVar(&v, "address-ip-version", "", ipVersionHelp)
	return func(cmd *cobra.Command, r *api.UpdateServiceRequest) {
		if cmd.Flags().Changed("address-ip-version") {
			r.AddressIPVersion = &v
		}
	}
}

// cutZoneIPv6 splits ",ipv6=ADDR" off a --zone value.
func cutZoneIPv6(s string) (rest, ip6 string) {
	rest, ip6, _ = strings.Cut(s, ",ipv6=")
	return rest, ip6
}
