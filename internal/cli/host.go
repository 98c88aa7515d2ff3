package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	"github.com/privlink/privlink/internal/api"
	"github.com/privlink/privlink/internal/client"
)

func hostCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "host", Short: "Manage ECS-like hosts (namespaces on a vSwitch)"}
	var req api.CreateHostRequest
	create := createCmd(g, "Create a host", hostColsIPv6, (*client.Client).CreateHost, &req, &req.ClientToken, &req.DryRun)
	create.Flags().StringVar(&req.Ipv6Address, "ipv6-address", "", "IPv6 address in a dual-stack vSwitch's /64 (default: the lowest free one)")
	create.Flags().StringVar(&req.VSwitchID, "vswitch", "", "vSwitch ID")
	create.Flags().StringVar(&req.IP, "ip", "", "private IP (default: next free)")
	create.Flags().StringVar(&req.Name, "name", "", "name")
	create.Flags().StringVar(&req.NodeName, "node", "", "node to place the host on (default: the least loaded ready node of the vSwitch's zone)")
	exe := &cobra.Command{
		Use:   "exec HOST -- CMD [ARGS...]",
		Short: "Run a command inside the host (its network namespace; DNS is the VPC resolver). Must run on the machine of the host's zone agent.",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			h, err := c.GetHost(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			reg, err := c.DescribeRegion(ctx(cmd))
			if err != nil {
				return err
			}
			argv := args[1:]
			var x *exec.Cmd
			if reg.Network == "netns" {
				x = exec.CommandContext(ctx(cmd), "ip", append([]string{"netns", "exec", reg.NetnsPrefix + "-" + h.HostID}, argv...)...)
			} else {
				fmt.Fprintln(os.Stderr, "note: loopback network: the command runs on this machine without isolation")
				x = exec.CommandContext(ctx(cmd), argv[0], argv[1:]...)
			}
			x.Stdin, x.Stdout, x.Stderr = os.Stdin, cmd.OutOrStdout(), os.Stderr
			err = x.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return exitError(ee.ExitCode())
			}
			return err
		},
	}
	cmd.AddCommand(create, exe)
	crud(g, cmd, hostColsIPv6, (*client.Client).ListHosts, (*client.Client).GetHost, (*client.Client).DeleteHost, api.FilterVpcID)
	return cmd
}
