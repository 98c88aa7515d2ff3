package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

// hostColsIPv6 are the host columns with the host's IPv6 address.
var hostColsIPv6 = insertCol(hostCols, "NODE", col{"IPV6", "ipv6Address"})

// insertCol is cols with c inserted before the column headed before (at
// the end if there is none).
func insertCol(cols []col, before string, c col) []col {
	out := make([]col, 0, len(cols)+1)
	for _, x := range cols {
		if x.head == before {
			out = append(out, c)
		}
		out = append(out, x)
	}
	if len(out) == len(cols) {
		out = append(out, c)
	}
	return out
}

// enableIPv6Cmd is `vpc enable-ipv6 VPC [--ipv6-cidr P]` (AllocateVpcIpv6Cidr).
func enableIPv6Cmd(g *globals) *cobra.Command {
	var req api.AllocateVpcIpv6CidrRequest
	c := &cobra.Command{Use: "enable-ipv6 VPC", Short: "Give an IPv4-only VPC an IPv6 /56 (yours with --ipv6-cidr, else a random ULA one)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd, vpcCols, func(ctx context.Context, c *client.Client) (any, error) {
				return c.AllocateVpcIpv6Cidr(ctx, args[0], req)
			})
		}}
	c.Flags().StringVar(&req.Ipv6CidrBlock, "ipv6-cidr", "", "your own IPv6 /56 inside fc00::/7")
	return c
}

// ipv6VSwitchFlags adds --ipv6 and --ipv6-index to vswitch create.
func ipv6VSwitchFlags(create *cobra.Command, req *api.CreateVSwitchRequest) {
	var index int
	create.Flags().BoolVar(&req.EnableIpv6, "ipv6", false, "dual-stack: the lowest free /64 of the VPC's IPv6 /56")
	create.Flags().IntVar(&index, "ipv6-index", 0, "dual-stack: the /64 number N (0-255) of the VPC's IPv6 /56")
	create.PreRun = func(cmd *cobra.Command, _ []string) {
		if cmd.Flags().Changed("ipv6-index") {
			req.Ipv6CidrBlock = &index
		}
	}
}
